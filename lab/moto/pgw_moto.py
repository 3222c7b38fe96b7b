#!/usr/bin/env python3
"""pgw-lab's AWS control plane: moto 5.2.5 in server mode, run in-process so that its backends
can be seeded with the lab's exact ids and addresses and patched where moto is not faithful.

    pgw_moto.py --port PORT --seed SEED.json [--host 127.0.0.1]

PORT 0 picks a free port. Once the seed is loaded the server prints one line on stdout,
`PGW_MOTO_READY http://HOST:PORT`, and serves until its standard input closes (the lab holds a
pipe to it, so the server never outlives the lab) or it is killed. A seed that cannot be loaded
prints a traceback on stderr and exits 1. `POST /_pgw/seed` with a new seed document rebuilds
the seeded accounts (Lab::set_faults); requests are served one at a time.

The seed document is written by the lab (lab/src/control.rs): the consumer account (VPC,
execute-api endpoint, PrivateLink consumer endpoint, NLBs, VPC links, the private REST API) and
the provider account (NLB, endpoint service). Every fault is already resolved into plain values
there; this file only builds what the document says.

Patches to moto (each marked `# P<n>` below; see lab/README.md):
  P1 DescribeTargetHealth: per-target state/reason/description and Target.AvailabilityZone
  P2 GetVpcLink(s): statusMessage (moto has none; status is a plain attribute)
  P3 Integrations keep connectionId (moto drops it) and timeoutInMillis is a number
  P3b DescribeRouteTables: a route's State can be `blackhole` (moto: always `active`)
  P4 GetDeployment embed=apisummary: a snapshot of the methods taken at CreateDeployment
  P5 DescribeVpcEndpointConnections (+ Accept/Reject): across accounts, from the consumer endpoints
  P6 Network load balancers get `loadbalancer/net/` ARNs and `name-id.elb.region` DNS names
  P6b An NLB with security groups says EnforceSecurityGroupInboundRulesOnPrivateLinkTraffic=on
  P7 Requests with plain (non-assumed-role) credentials land in the consumer account
  P8 GetRestApi returns the resource policy JSON-escaped, as API Gateway does
  P9 ModifyVpcEndpoint honours PrivateDnsEnabled

Faults outside moto: the seed's `denied` operations (`ec2:DescribeVpcEndpoints`,
`elasticloadbalancing:DescribeTargetHealth`, `apigateway:GetStage`, ...) are answered with the
service's own AccessDenied error (see `denied_response`) before moto sees the request.
"""
import argparse
import io
import ipaddress
import json
import os
import re
import sys
import threading
import traceback
import uuid
from urllib.parse import parse_qs

# Operations answered AccessDenied (`service:Action`), from the seed's `denied`.
DENIED = set()
# Private custom domain names by (account, region, name), and domain name access associations by
# (account, region): moto 5.2.5 keeps no domainNameId for PRIVATE domains and answers the
# association calls `404 Not yet implemented`, so the fidelity layer answers these three reads.
DOMAINS = {}
ASSOCIATIONS = {}


def _escape_policy(text):
    """API Gateway returns the policy with `"` and `/` backslash-escaped inside the JSON string."""
    return text.replace("\\", "\\\\").replace('"', '\\"').replace("/", "\\/")


def patch_moto(consumer_account):
    from moto.apigateway import models as apigw_models
    from moto.apigateway import responses as apigw_responses
    from moto.core.responses import ActionResult
    from moto.ec2.models import ec2_backends
    from moto.ec2.responses import EC2Response
    from moto.elbv2 import models as elbv2_models
    from moto.iam import models as iam_models

    # P1 target health ---------------------------------------------------------------------
    orig_register = elbv2_models.FakeTargetGroup.register
    orig_health_for = elbv2_models.FakeTargetGroup.health_for

    def register(self, targets):
        orig_register(self, targets)
        for t in targets:
            if t.get("AvailabilityZone") and t["Id"] in self.targets:
                self.targets[t["Id"]]["AvailabilityZone"] = t["AvailabilityZone"]

    def health_for(self, target, ec2_backend):
        status = orig_health_for(self, target, ec2_backend)
        registered = self.targets.get(target["Id"])
        if registered is not None:
            status.availability_zone = registered.get("AvailabilityZone")
            health = registered.get("_pgw_health")
            if health:
                status.status = health["state"]
                status.reason = health.get("reason")
                status.description = health.get("description")
        return status

    def health_target(self):
        d = {"Id": self.instance_id, "Port": self.port}
        if getattr(self, "availability_zone", None):
            d["AvailabilityZone"] = self.availability_zone
        return d

    elbv2_models.FakeTargetGroup.register = register
    elbv2_models.FakeTargetGroup.health_for = health_for
    elbv2_models.FakeHealthStatus.target = property(health_target)

    # P2 VPC link statusMessage ----------------------------------------------------------------
    orig_link_json = apigw_models.VpcLink.to_json

    def link_json(self):
        d = orig_link_json(self)
        if getattr(self, "status_message", None):
            d["statusMessage"] = self.status_message
        if not isinstance(d.get("tags"), dict):
            d["tags"] = {t["Key"]: t["Value"] for t in (d.get("tags") or [])}
        return d

    apigw_models.VpcLink.to_json = link_json

    # P3 integration connectionId, numeric timeoutInMillis --------------------------------------
    orig_integration_json = apigw_models.Integration.to_json
    orig_put_integration = apigw_responses.APIGatewayResponse.put_integration

    def integration_json(self):
        d = orig_integration_json(self)
        if getattr(self, "connection_id", None):
            d["connectionId"] = self.connection_id
        t = d.get("timeoutInMillis")
        d["timeoutInMillis"] = int(t) if t not in (None, "") else 29000
        return {k: v for k, v in d.items() if v is not None}

    def put_integration(self):
        status, headers, body = orig_put_integration(self)
        connection_id = self._get_param("connectionId")
        if connection_id and status < 300:
            parts = self.path.split("/")
            integration = self.backend.get_integration(parts[2], parts[4], parts[6])
            integration.connection_id = connection_id
            body = json.dumps(integration.to_json())
        return status, headers, body

    apigw_models.Integration.to_json = integration_json
    apigw_responses.APIGatewayResponse.put_integration = put_integration

    # P3b route state (moto says `active` for every route; a route whose attachment is gone is
    # `blackhole`) -----------------------------------------------------------------------------
    from moto.ec2.models.route_tables import Route

    Route.state = property(lambda self: getattr(self, "_pgw_state", "active"))

    # P4 deployment snapshots and embed=apisummary ---------------------------------------------
    orig_create_deployment = apigw_models.RestAPI.create_deployment

    def create_deployment(self, name, description="", stage_variables=None):
        deployment = orig_create_deployment(self, name, description, stage_variables)
        deployment.api_summary = api_summary(self)
        return deployment

    def get_deployment(self):
        parts = self.path.split("/")
        deployment = self.backend.get_deployment(parts[2], parts[4])
        d = deployment.to_json()
        embed = ",".join(self.querystring.get("embed", [])).lower()
        if "apisummary" in embed:
            d["apiSummary"] = getattr(deployment, "api_summary", {})
        return json.dumps(d)

    apigw_models.RestAPI.create_deployment = create_deployment
    apigw_responses.APIGatewayResponse.get_deployment = get_deployment

    # P5 endpoint connections seen from the service owner ----------------------------------------
    def connections(provider_ec2, service_id=None, endpoint_ids=None):
        out = []
        for cfg in provider_ec2.configurations.values():
            if service_id and cfg.id != service_id:
                continue
            for account, regions in list(ec2_backends.items()):
                ec2 = regions[provider_ec2.region_name]
                for vpce in list(ec2.vpc_end_points.values()):
                    if vpce.service_name != cfg.service_name:
                        continue
                    if endpoint_ids and vpce.id not in endpoint_ids:
                        continue
                    out.append((cfg, account, vpce))
        return out

    def describe_vpc_endpoint_connections(self):
        filters = self._filters_from_querystring() or {}
        rows = []
        for cfg, account, vpce in connections(self.ec2_backend):
            row = {
                "ServiceId": cfg.id,
                "VpcEndpointId": vpce.id,
                "VpcEndpointOwner": account,
                "VpcEndpointState": vpce.state,
                "CreationTimestamp": vpce.creation_timestamp,
                "DnsEntries": [
                    {"DnsName": d.get("dns_name"), "HostedZoneId": d.get("hosted_zone_id")}
                    for d in (vpce.dns_entries or [])
                ],
                "NetworkLoadBalancerArns": list(cfg.network_load_balancer_arns),
                "IpAddressType": "ipv4",
                "VpcEndpointConnectionId": "vpce-con-" + vpce.id[len("vpce-"):],
                "VpcEndpointRegion": self.ec2_backend.region_name,
            }
            keys = {
                "service-id": row["ServiceId"],
                "vpc-endpoint-id": row["VpcEndpointId"],
                "vpc-endpoint-state": row["VpcEndpointState"],
                "vpc-endpoint-owner": row["VpcEndpointOwner"],
            }
            if all(keys[k] in v for k, v in filters.items() if k in keys):
                rows.append(row)
        return ActionResult({"VpcEndpointConnections": rows})

    def set_connection_state(self, new_state):
        service_id = self._get_param("ServiceId")
        endpoint_ids = self._get_param("VpcEndpointIds", [])
        self.ec2_backend.describe_vpc_endpoint_service_configurations([service_id])
        found = {v.id: v for _, _, v in connections(self.ec2_backend, service_id, endpoint_ids)}
        unsuccessful = []
        for vid in endpoint_ids:
            if vid in found:
                found[vid].state = new_state
            else:
                unsuccessful.append({
                    "ResourceId": vid,
                    "Error": {"Code": "InvalidVpcEndpointId.NotFound",
                              "Message": f"The Vpc Endpoint Id '{vid}' does not exist"},
                })
        return ActionResult({"Unsuccessful": unsuccessful})

    EC2Response.describe_vpc_endpoint_connections = describe_vpc_endpoint_connections
    EC2Response.accept_vpc_endpoint_connections = lambda self: set_connection_state(self, "available")
    EC2Response.reject_vpc_endpoint_connections = lambda self: set_connection_state(self, "rejected")

    # P6 NLB ARNs and DNS names --------------------------------------------------------------
    orig_create_lb = elbv2_models.ELBv2Backend.create_load_balancer

    def create_load_balancer(self, name, *a, **kw):
        lb = orig_create_lb(self, name, *a, **kw)
        if lb.type == "network" and ":loadbalancer/app/" in lb.arn:
            rekey_nlb(self, lb, lb.arn.replace(":loadbalancer/app/", ":loadbalancer/net/"))
            lb_id = lb.arn.rsplit("/", 1)[1]
            lb.dns_name = f"{name}-{lb_id[:10]}.elb.{self.region_name}.amazonaws.com"
        return lb

    elbv2_models.ELBv2Backend.create_load_balancer = create_load_balancer

    # P7 default account -----------------------------------------------------------------------
    orig_account_from = iam_models.get_account_id_from

    def get_account_id_from(access_key):
        account = orig_account_from(access_key)
        return consumer_account if account == iam_models.DEFAULT_ACCOUNT_ID else account

    iam_models.get_account_id_from = get_account_id_from

    # P8 escaped policy; the TLS security policy (moto keeps none for REST APIs) ---------------
    orig_api_dict = apigw_models.RestAPI.to_dict

    def api_dict(self):
        d = orig_api_dict(self)
        if d.get("policy"):
            d["policy"] = _escape_policy(d["policy"])
        if getattr(self, "pgw_security_policy", None):
            d["securityPolicy"] = self.pgw_security_policy
        if getattr(self, "pgw_endpoint_access_mode", None):
            d["endpointAccessMode"] = self.pgw_endpoint_access_mode
        return d

    apigw_models.RestAPI.to_dict = api_dict

    # P9 ModifyVpcEndpoint PrivateDnsEnabled ---------------------------------------------------
    orig_modify_vpce = EC2Response.modify_vpc_endpoint

    def modify_vpc_endpoint(self):
        r = orig_modify_vpce(self)
        pde = self._get_param("PrivateDnsEnabled")
        if pde is not None:
            vpce = self.ec2_backend.vpc_end_points[self._get_param("VpcEndpointId")]
            vpce.private_dns_enabled = str(pde).lower() == "true"
        return r

    EC2Response.modify_vpc_endpoint = modify_vpc_endpoint


def api_summary(api):
    """path -> method -> {authorizationType, apiKeyRequired}, as GetDeployment embed=apisummary."""
    out = {}
    for res in api.resources.values():
        if res.resource_methods:
            out[res.get_path()] = {
                verb: {"authorizationType": m.authorization_type or "NONE",
                       "apiKeyRequired": bool(m.api_key_required)}
                for verb, m in res.resource_methods.items()
            }
    return out


def rekey_nlb(elbv2, lb, new_arn):
    elbv2.load_balancers.pop(lb.arn, None)
    lb.arn = new_arn
    elbv2.load_balancers[new_arn] = lb


# ------------------------------------------------------------------------------------------
# Seeding
# ------------------------------------------------------------------------------------------

def build_network(ec2, net):
    vpc = ec2.create_vpc(net["vpc"]["cidr"])
    for cidr in net["vpc"].get("secondary_cidrs", []):
        ec2.associate_vpc_cidr_block(vpc.id, cidr, False)
    ec2.modify_vpc_attribute(vpc.id, "enable_dns_support", net["vpc"]["enable_dns_support"])
    ec2.modify_vpc_attribute(vpc.id, "enable_dns_hostnames", net["vpc"]["enable_dns_hostnames"])
    subnets = {}
    for s in net["subnets"]:
        subnets[s["az"]] = ec2.create_subnet(vpc.id, s["cidr"], availability_zone=s["az"])
    add_routes(ec2, vpc, net.get("routes", []))
    return vpc, subnets


def add_routes(ec2, vpc, routes):
    """Routes of the VPC's main route table (every subnet here uses it) beyond the local one, each
    through a transit gateway, in the given state."""
    main = ec2.describe_route_tables(filters={"vpc-id": [vpc.id], "association.main": ["true"]})[0]
    for r in routes:
        tgw = ec2.create_transit_gateway("pgw-lab: towards another network")
        route = ec2.create_route(main.id, r["cidr"], transit_gateway_id=tgw.id)
        route._pgw_state = r["state"]


def build_security_group(ec2, vpc, spec, refs=None):
    """A security group; a rule's `source_group` names a group of `refs` instead of a `cidr`."""
    sg = ec2.create_security_group(spec["name"], spec["description"], vpc_id=vpc.id)
    for rule in spec["ingress"]:
        if "source_group" in rule:
            ranges = []
            sources = [{"GroupId": refs[rule["source_group"]].id,
                        "Description": rule["description"]}]
        else:
            ranges = [{"CidrIp": rule["cidr"], "Description": rule["description"]}]
            sources = None
        ec2.authorize_security_group_ingress(
            sg.id, rule["protocol"], str(rule["from_port"]), str(rule["to_port"]),
            ranges, source_groups=sources, vpc_id=vpc.id)
    return sg


def build_client(ec2, vpc, spec):
    """The diagnosing host's own interface and security group: a subnet of the VPC's second CIDR,
    one ENI; with `vpc`, in a VPC of its own (that CIDR) with those routes."""
    if spec.get("vpc"):
        vpc = ec2.create_vpc(spec["cidr"])
        add_routes(ec2, vpc, spec["vpc"]["routes"])
    sg = build_security_group(ec2, vpc, spec["security_group"])
    subnet = ec2.create_subnet(vpc.id, spec["cidr"], availability_zone=spec["az"])
    eni = ec2.create_network_interface(subnet, spec["ip"], group_ids=[sg.id],
                                       description="pgw diagnosing host")
    eni.status = "in-use"
    if spec.get("egress") == "none":
        sg.egress_rules = []
    if spec.get("acl"):
        acl = ec2.create_network_acl(vpc.id)
        for e in spec["acl"]:
            ec2.create_network_acl_entry(acl.id, e["rule"], e["protocol"], e["action"], e["egress"],
                                         e["cidr"], None, None, e.get("from"), e.get("to"), None)
        default = next(a for a in ec2.network_acls.values() if a.default and a.vpc_id == vpc.id)
        assoc = next(k for k, v in default._associations.items() if v.subnet_id == subnet.id)
        ec2.replace_network_acl_association(assoc, acl.id)
    return sg


def build_endpoint(ec2, region, vpc, subnets, spec, groups):
    """An interface endpoint with the seed's id, state, ENI addresses and DNS names."""
    from moto.ec2.models.vpcs import VPCEndPoint

    eid, suffix = spec["id"], spec["dns_suffix"]
    enis = []
    for e in spec["enis"]:
        eni = ec2.create_network_interface(
            subnets[e["az"]], e["ip"], group_ids=[g.id for g in groups],
            description=f"VPC Endpoint Interface {eid}")
        eni.interface_type = "vpc_endpoint"
        eni.requester_managed = True
        eni.requester_id = "727180483921"
        eni.status = "in-use"
        enis.append(eni)
    base = spec["dns_base"]
    zone = "Z7HUB22UULQXV"
    dns = [{"dns_name": f"{eid}-{suffix}.{base}", "hosted_zone_id": zone}]
    dns += [{"dns_name": f"{eid}-{suffix}-{e['az']}.{base}", "hosted_zone_id": zone}
            for e in spec["enis"]]
    if spec.get("private_dns_name") and spec["private_dns_enabled"]:
        dns.append({"dns_name": spec["private_dns_name"], "hosted_zone_id": "Z0PGWLAB00000001"})
    vpce = VPCEndPoint(
        ec2, eid, vpc.id, spec["service_name"], "Interface", None, [],
        subnet_ids=[subnets[e["az"]].id for e in spec["enis"]],
        network_interface_ids=[eni.id for eni in enis],
        dns_entries=dns,
        security_group_ids=[g.id for g in groups],
        private_dns_enabled=spec["private_dns_enabled"],
    )
    vpce.state = spec["state"]
    if spec.get("policy"):
        vpce.policy_document = spec["policy"]
    vpce.requester_managed = False
    vpce.ip_address_type = "ipv4"
    vpce.dns_options = {"DnsRecordIpType": "ipv4"}
    if spec.get("last_error"):
        vpce.last_error = spec["last_error"]
    ec2.vpc_end_points[eid] = vpce
    return vpce


def build_nlb(elbv2, region, vpc, subnets, spec, groups=()):
    """An NLB in `subnets` (az -> subnet): all of them, or those of `spec["azs"]`."""
    if spec.get("azs") is not None:
        subnets = {az: s for az, s in subnets.items() if az in spec["azs"]}
    lb = elbv2.create_load_balancer(
        spec["name"], [g.id for g in groups], [s.id for s in subnets.values()], scheme=spec["scheme"],
        loadbalancer_type="network")
    if groups:
        # P6b: moto has no such attribute; DescribeLoadBalancers then answers it.
        lb.enforce_security_group_inbound_rules_on_private_link_traffic = "on"
    account = elbv2.account_id
    arn = f"arn:aws:elasticloadbalancing:{region}:{account}:loadbalancer/net/{spec['name']}/{spec['lb_id']}"
    rekey_nlb(elbv2, lb, arn)
    lb.dns_name = spec["dns_name"]
    lb.state = "active"
    tg = elbv2.create_target_group(
        spec["tg_name"], vpc_id=vpc.id, protocol="TCP", port=str(spec["tg_port"]),
        target_type="ip", healthcheck_protocol="TCP")
    elbv2.create_listener(
        arn, spec.get("listener_protocol", "TCP"), spec["listener_port"], None, None,
        [{"Type": "forward", "TargetGroupArn": tg.arn}])
    tg.register([{"Id": t["ip"], "Port": t["port"], "AvailabilityZone": t["az"]}
                 for t in spec["targets"]])
    for t in spec["targets"]:
        if t["state"] != "healthy" or t.get("reason"):
            tg.targets[t["ip"]]["_pgw_health"] = {
                "state": t["state"], "reason": t.get("reason"), "description": t.get("description")}
    return lb


def put_methods(apigw, api, resources, methods):
    """Makes the API's methods exactly `methods` (path -> spec)."""
    for path, res in resources.items():
        wanted = {m["http_method"]: m for m in methods if m["path"] == path}
        for verb in list(res.resource_methods):
            if verb not in wanted:
                res.delete_method(verb)
        for verb, m in wanted.items():
            apigw.put_method(api.id, res.id, verb, m["authorization"],
                             api_key_required=m.get("api_key_required", False),
                             request_parameters=m.get("request_parameters"))
            i = m["integration"]
            integration = apigw.put_integration(
                api.id, res.id, verb, i["type"], i["uri"], i["http_method"],
                timeout_in_millis=i["timeout_ms"], connection_type=i["connection_type"],
                request_parameters=i.get("request_parameters"),
                passthrough_behavior="WHEN_NO_MATCH")
            integration.connection_id = i["connection_id"]
            integration.cache_namespace = res.id


def build_api(apigw, region, account, spec):
    from moto.utilities.id_generator import TAG_KEY_CUSTOM_ID

    policy = spec.get("policy")
    api = apigw.create_rest_api(
        spec["name"], spec.get("description", ""),
        endpoint_configuration={"types": spec["types"], "vpcEndpointIds": spec["vpc_endpoint_ids"]}
        if spec["vpc_endpoint_ids"] else {"types": spec["types"]},
        tags={TAG_KEY_CUSTOM_ID: spec["id"]},
        policy=policy,
        disable_execute_api_endpoint=spec.get("disable_execute_api_endpoint", False))
    api.tags.pop(TAG_KEY_CUSTOM_ID, None)
    assert api.id == spec["id"], (api.id, spec["id"])
    api.pgw_security_policy = spec.get("security_policy")
    api.pgw_endpoint_access_mode = spec.get("endpoint_access_mode")
    resources = {"/": api.default}
    paths = sorted({m["path"] for m in spec["deployed"] + spec["current"]} - {"/"})
    for path in paths:
        parent = resources["/"]
        part = path.strip("/")
        resources[path] = apigw.create_resource(api.id, parent.id, part)
    # What the stages run: the deployed snapshot ...
    put_methods(apigw, api, resources, spec["deployed"])
    logging = spec.get("logging") or {}
    if logging.get("role"):
        apigw.update_account([{"op": "replace", "path": "/cloudwatchRoleArn",
                               "value": f"arn:aws:iam::{account}:role/pgw-lab-apigw-logs"}])
    for stage in spec["stages"]:
        api.create_deployment(stage, spec.get("deployment_description", ""),
                              spec.get("stage_variables") or None)
        api.stages[stage].web_acl_arn = spec.get("web_acl_arn")
        if logging.get("level"):
            apigw.update_stage(api.id, stage, [{"op": "replace", "path": "/*/*/logging/loglevel",
                                                "value": logging["level"]}])
    # ... then the edits made since, not deployed.
    put_methods(apigw, api, resources, spec["current"])
    return api


def seed(doc):
    from moto.apigateway.models import apigateway_backends
    from moto.ec2.models import ec2_backends
    from moto.elbv2.models import elbv2_backends

    region = doc["region"]
    prov = doc["provider"]
    pec2 = ec2_backends[prov["account"]][region]
    pelb = elbv2_backends[prov["account"]][region]
    pvpc, psubnets = build_network(pec2, prov["network"])
    plb = build_nlb(pelb, region, pvpc, psubnets, dict(prov["nlb"], azs=prov.get("nlb_azs")))
    # The service as created, in every AZ; the NLB may lose some later (`nlb_azs`).
    cfg = pec2.create_vpc_endpoint_service_configuration(
        [plb.arn], prov["service"]["acceptance_required"], None, [], [])
    pec2.configurations.pop(cfg.id)
    cfg.id = prov["service"]["id"]
    cfg.service_name = prov["service"]["name"]
    cfg.endpoint_dns_name = f"{cfg.id}.{region}.vpce.amazonaws.com"
    pec2.configurations[cfg.id] = cfg
    pec2.modify_vpc_endpoint_service_permissions(cfg.id, prov["service"]["allowed_principals"], [])

    con = doc["consumer"]
    ec2 = ec2_backends[con["account"]][region]
    elb = elbv2_backends[con["account"]][region]
    apigw = apigateway_backends[con["account"]][region]
    vpc, subnets = build_network(ec2, con["network"])
    refs = {"other": build_security_group(ec2, vpc, con["other_security_group"])}
    if con.get("client"):
        refs["client"] = build_client(ec2, vpc, con["client"])
    sg = build_security_group(ec2, vpc, con["security_group"], refs)
    build_endpoint(ec2, region, vpc, subnets, con["execute_api_endpoint"], [sg])
    psg = build_security_group(ec2, vpc, con["service_endpoint_security_group"])
    build_endpoint(ec2, region, vpc, subnets, con["service_endpoint"], [psg])
    lbs = {n["key"]: build_nlb(elb, region, vpc, subnets, n,
                               [build_security_group(ec2, vpc, n["security_group"])]
                               if n.get("security_group") else [])
           for n in con["nlbs"]}
    for link in con["vpc_links"]:
        vl = apigw.create_vpc_link(link["name"], link.get("description", ""),
                                   [lbs[link["nlb"]].arn], [])
        apigw.vpc_links.pop(vl.id)
        vl.id = link["id"]
        vl.status = link["status"]
        vl.status_message = link.get("status_message")
        apigw.vpc_links[vl.id] = vl
        # The endpoint service API Gateway makes on the link's NLB, in the NLB's account.
        if link.get("service_state"):
            svc = ec2.create_vpc_endpoint_service_configuration(
                [lbs[link["nlb"]].arn], False, None, [], [])
            svc.service_state = link["service_state"]
    build_api(apigw, region, con["account"], con["api"])
    seed_domain(region, con["account"], con.get("domain"))
    DENIED.clear()
    DENIED.update(doc.get("denied", []))


def seed_domain(region, account, spec):
    """The private custom domain (in the API's account) and the endpoints associated with it."""
    DOMAINS.clear()
    ASSOCIATIONS.clear()
    if not spec:
        return
    arn = f"arn:aws:apigateway:{region}:{account}:/domainnames/{spec['name']}+{spec['id']}"
    DOMAINS[(account, region, spec["name"])] = dict(spec, arn=arn)
    ASSOCIATIONS[(account, region)] = [{
        "domainNameAccessAssociationArn":
            f"arn:aws:apigateway:{region}:{account}:/domainnameaccessassociations/domainname/"
            f"{spec['name']}+{spec['id']}/vpcesource/{vpce}",
        "domainNameArn": arn,
        "accessAssociationSource": vpce,
        "accessAssociationSourceType": "VPCE",
    } for vpce in spec["associations"]]


def domain_read(operation, access_key, region, path, query):
    """(status, headers, body) of GetDomainName, GetBasePathMappings or
    GetDomainNameAccessAssociations, in the API reference's shapes. A PRIVATE domain is found only
    with its domainNameId."""
    from moto.iam import models as iam_models
    from urllib.parse import unquote

    account = iam_models.get_account_id_from(access_key)
    headers = [("Content-Type", "application/json"), ("x-amzn-RequestId", str(uuid.uuid4()))]
    if operation == "GetDomainNameAccessAssociations":
        owner = (query.get("resourceOwner") or ["SELF"])[0]
        items = ASSOCIATIONS.get((account, region), []) if owner == "SELF" else []
        return 200, headers, json.dumps({"item": items})
    name = unquote(path.split("/")[2])
    spec = DOMAINS.get((account, region, name))
    if spec is None or (query.get("domainNameId") or [None])[0] != spec["id"]:
        message = "Invalid domain name identifier specified"
        headers.append(("x-amzn-ErrorType", "NotFoundException"))
        return 404, headers, json.dumps({"message": message})
    if operation == "GetBasePathMappings":
        return 200, headers, json.dumps({"item": [
            {"basePath": m["base_path"], "restApiId": m["rest_api_id"], "stage": m["stage"]}
            for m in spec["mappings"]]})
    body = {
        "domainName": name,
        "domainNameId": spec["id"],
        "domainNameArn": spec["arn"],
        "certificateArn": spec["certificate_arn"],
        "endpointConfiguration": {"types": ["PRIVATE"], "ipAddressType": "ipv4"},
        "domainNameStatus": spec["status"],
        "securityPolicy": "TLS_1_2",
        "endpointAccessMode": "BASIC",
        "routingMode": "BASE_PATH_MAPPING_ONLY",
        "policy": _escape_policy(spec["policy"]),
    }
    if spec.get("status_message"):
        body["domainNameStatusMessage"] = spec["status_message"]
    return 200, headers, json.dumps(body)


# ------------------------------------------------------------------------------------------
# Denied operations
# ------------------------------------------------------------------------------------------

# API Gateway (REST): the operation of a GET by its path.
APIGW_GETS = [
    (re.compile(r"^/restapis/?$"), "GetRestApis"),
    (re.compile(r"^/restapis/[^/]+/?$"), "GetRestApi"),
    (re.compile(r"^/restapis/[^/]+/stages/?$"), "GetStages"),
    (re.compile(r"^/restapis/[^/]+/stages/[^/]+/?$"), "GetStage"),
    (re.compile(r"^/restapis/[^/]+/deployments/[^/]+/?$"), "GetDeployment"),
    (re.compile(r"^/restapis/[^/]+/resources/?$"), "GetResources"),
    (re.compile(r"^/vpclinks/[^/]+/?$"), "GetVpcLink"),
    (re.compile(r"^/account/?$"), "GetAccount"),
    (re.compile(r"^/domainnames/[^/]+/?$"), "GetDomainName"),
    (re.compile(r"^/domainnames/[^/]+/basepathmappings/?$"), "GetBasePathMappings"),
    (re.compile(r"^/domainnameaccessassociations/?$"), "GetDomainNameAccessAssociations"),
]
# The reads the fidelity layer answers itself (`domain_read`).
DOMAIN_READS = {"apigateway:GetDomainName", "apigateway:GetBasePathMappings",
                "apigateway:GetDomainNameAccessAssociations"}
# Query-protocol services: the XML namespace of their ErrorResponse (EC2 has its own shape).
QUERY_NAMESPACES = {
    "elasticloadbalancing": "http://elasticloadbalancing.amazonaws.com/doc/2015-12-01/",
    "sts": "https://sts.amazonaws.com/doc/2011-06-15/",
}
SCOPE = re.compile(r"Credential=([^/,\s]+)/\d{8}/([^/]+)/([^/]+)/aws4_request")


def request_operation(environ):
    """(`service:Action`, access key, region, resource) of a signed request, reading (and
    restoring) the body of query-protocol requests; None when it cannot be told. `resource` is
    the request path, or the role ARN of an AssumeRole."""
    m = SCOPE.search(environ.get("HTTP_AUTHORIZATION", ""))
    if not m:
        return None
    key, region, service = m.groups()
    if service == "apigateway":
        if environ.get("REQUEST_METHOD") != "GET":
            return None
        path = environ.get("PATH_INFO", "")
        for pattern, op in APIGW_GETS:
            if pattern.match(path):
                return f"apigateway:{op}", key, region, path
        return None
    if service == "logs":
        # JSON protocol: the operation is in X-Amz-Target (`Logs_20140328.FilterLogEvents`).
        target = environ.get("HTTP_X_AMZ_TARGET", "")
        action = target.rsplit(".", 1)[-1] if "." in target else None
        return (f"logs:{action}", key, region, environ.get("PATH_INFO", "/")) if action else None
    params = parse_qs(environ.get("QUERY_STRING", ""))
    length = int(environ.get("CONTENT_LENGTH") or 0)
    if length > 0:
        body = environ["wsgi.input"].read(length)
        environ["wsgi.input"] = io.BytesIO(body)
        params.update(parse_qs(body.decode("utf-8", "replace")))
    action = (params.get("Action") or [None])[0]
    resource = (params.get("RoleArn") or [environ.get("PATH_INFO", "/")])[0]
    return (f"{service}:{action}", key, region, resource) if action else None


def caller_arn(access_key, region):
    """The principal AWS names in its AccessDenied message."""
    from moto.iam import models as iam_models
    from moto.sts.models import sts_backends

    account = iam_models.get_account_id_from(access_key)
    try:
        role = sts_backends[account]["aws"].get_assumed_role_from_access_key(access_key)
    except Exception:  # noqa: BLE001 - no STS state for the account yet
        role = None
    return role.arn if role else f"arn:aws:iam::{account}:user/pgw-lab"


def denied_response(operation, access_key, region, resource):
    """(status, headers, body) of AWS's AccessDenied answer to `operation`, in the service's own
    protocol: EC2's `<Response><Errors>` with UnauthorizedOperation, the query protocol's
    `<ErrorResponse>` with AccessDenied (ELBv2, STS), API Gateway's and CloudWatch Logs' JSON
    AccessDeniedException."""
    service = operation.split(":", 1)[0]
    who = caller_arn(access_key, region)
    request_id = str(uuid.uuid4())
    if service == "apigateway":
        resource = f"arn:aws:apigateway:{region}::{resource}"
        message = (f"User: {who} is not authorized to perform: apigateway:GET on resource: "
                   f"{resource} because no identity-based policy allows the apigateway:GET action")
        headers = [("Content-Type", "application/json"),
                   ("x-amzn-RequestId", request_id),
                   ("x-amzn-ErrorType", "AccessDeniedException")]
        return 403, headers, json.dumps({"Message": message})
    because = f"because no identity-based policy allows the {operation} action"
    if service == "logs":
        message = f"User: {who} is not authorized to perform: {operation} {because}"
        headers = [("Content-Type", "application/x-amz-json-1.1"),
                   ("x-amzn-RequestId", request_id)]
        return 400, headers, json.dumps({"__type": "AccessDeniedException", "message": message})
    if service == "ec2":
        message = (f"You are not authorized to perform this operation. User: {who} is not "
                   f"authorized to perform: {operation} {because}")
        body = ('<?xml version="1.0" encoding="UTF-8"?>\n'
                f"<Response><Errors><Error><Code>UnauthorizedOperation</Code>"
                f"<Message>{message}</Message></Error></Errors>"
                f"<RequestID>{request_id}</RequestID></Response>")
        return 403, [("Content-Type", "text/xml;charset=UTF-8")], body
    namespace = QUERY_NAMESPACES[service]
    if operation == "sts:AssumeRole":
        message = f"User: {who} is not authorized to perform: sts:AssumeRole on resource: {resource}"
    else:
        message = f"User: {who} is not authorized to perform: {operation} {because}"
    body = (f'<ErrorResponse xmlns="{namespace}">\n  <Error>\n    <Type>Sender</Type>\n'
            f"    <Code>AccessDenied</Code>\n    <Message>{message}</Message>\n  </Error>\n"
            f"  <RequestId>{request_id}</RequestId>\n</ErrorResponse>\n")
    return 403, [("Content-Type", "text/xml"), ("x-amzn-RequestId", request_id)], body


def tag_rest_api(environ):
    """API Gateway's TagResource on a REST API (`PUT /tags/{arn}`), which moto 5.2.5 does not
    route: the tags merged into the API's own; the status line, or None for other requests."""
    from urllib.parse import unquote
    from moto.apigateway.models import apigateway_backends
    from moto.iam import models as iam_models
    from werkzeug.wrappers import Request

    path = unquote(environ.get("PATH_INFO", ""))
    if environ.get("REQUEST_METHOD") != "PUT" or not path.startswith("/tags/"):
        return None
    m = SCOPE.search(environ.get("HTTP_AUTHORIZATION", ""))
    if not m or "/restapis/" not in path:
        return "400 Bad Request"
    key, region, _ = m.groups()
    account = iam_models.get_account_id_from(key)
    api_id = path.split("/restapis/", 1)[1].strip("/")
    api = apigateway_backends[account][region].apis.get(api_id)
    if api is None:
        return "404 Not Found"
    body = json.loads(Request(environ).get_data() or b"{}")
    api.tags = dict(api.tags or {}, **body.get("tags", {}))
    return "204 No Content"


def deny(doc):
    """Sets the operations answered AccessDenied (`{"denied": [...]}`), leaving the backends as
    they are (a reseed would rebuild them)."""
    DENIED.clear()
    DENIED.update(doc.get("denied", []))


def put_logs(doc):
    """Appends API Gateway's execution-log events for one request to the stage's log group (made
    on first use, as API Gateway does): `{account, region, group, stream, events: [{timestamp,
    message}]}`."""
    from moto.logs.models import logs_backends

    logs = logs_backends[doc["account"]][doc["region"]]
    if doc["group"] not in logs.groups:
        logs.create_log_group(doc["group"], {})
    group = logs.groups[doc["group"]]
    if doc["stream"] not in group.streams:
        logs.create_log_stream(doc["group"], doc["stream"])
    logs.put_log_events(doc["group"], doc["stream"], doc["events"])


def reseed(doc):
    """Empties the seeded accounts' EC2, ELBv2 and API Gateway backends and seeds them again
    (IAM and STS are kept: credentials from earlier AssumeRole calls stay valid)."""
    from moto.apigateway.models import apigateway_backends
    from moto.ec2.models import ec2_backends
    from moto.elbv2.models import elbv2_backends

    from moto.logs.models import logs_backends

    region = doc["region"]
    for account in (doc["consumer"]["account"], doc["provider"]["account"]):
        for backends in (ec2_backends, elbv2_backends, apigateway_backends, logs_backends):
            backends[account][region].reset()
    seed(doc)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--seed", required=True)
    a = ap.parse_args()
    if not ipaddress.ip_address(a.host).is_loopback:
        sys.exit("pgw_moto: loopback addresses only")
    with open(a.seed) as f:
        doc = json.load(f)
    os.environ.setdefault("MOTO_ALLOW_NONEXISTENT_REGION", "true")
    try:
        from moto.moto_server.werkzeug_app import (
            DomainDispatcherApplication, MotoRequestHandler, create_backend_app)
        from werkzeug.serving import make_server

        patch_moto(doc["consumer"]["account"])
        seed(doc)
    except Exception:  # noqa: BLE001 - the lab shows this text in its error
        traceback.print_exc()
        sys.exit(1)
    moto_app = DomainDispatcherApplication(create_backend_app)
    lock = threading.Lock()

    def app(environ, start_response):
        with lock:
            # The lab's own endpoints: a JSON document in, `{"ok":true}` or the traceback out.
            own = {"/_pgw/logs": put_logs, "/_pgw/seed": reseed,
                   "/_pgw/deny": deny}.get(environ.get("PATH_INFO"))
            if own and environ.get("REQUEST_METHOD") == "POST":
                from werkzeug.wrappers import Request, Response
                try:
                    own(json.loads(Request(environ).get_data()))
                    resp = Response('{"ok":true}', 200, mimetype="application/json")
                except Exception:  # noqa: BLE001 - reported to the lab
                    resp = Response(traceback.format_exc(), 500, mimetype="text/plain")
                return resp(environ, start_response)
            op = request_operation(environ)
            if op and op[0] in DENIED:
                status, headers, body = denied_response(*op)
                body = body.encode("utf-8")
                headers.append(("Content-Length", str(len(body))))
                start_response(f"{status} {'Forbidden' if status == 403 else 'Bad Request'}", headers)
                return [body]
            tagged = tag_rest_api(environ)
            if tagged is not None:
                start_response(tagged, [("Content-Length", "0")])
                return [b""]
            if op and op[0] in DOMAIN_READS:
                query = parse_qs(environ.get("QUERY_STRING", ""))
                status, headers, body = domain_read(op[0].split(":")[1], op[1], op[2], op[3], query)
                body = body.encode("utf-8")
                headers.append(("Content-Length", str(len(body))))
                start_response(f"{status} {'OK' if status == 200 else 'Not Found'}", headers)
                return [body]
            return list(moto_app(environ, start_response))

    srv = make_server(a.host, a.port, app, threaded=True, request_handler=MotoRequestHandler)
    print(f"PGW_MOTO_READY http://{a.host}:{srv.server_port}", flush=True)

    def watch_stdin():
        try:
            while sys.stdin.buffer.read(4096):
                pass
        finally:
            os._exit(0)

    threading.Thread(target=watch_stdin, daemon=True).start()
    srv.serve_forever()


if __name__ == "__main__":
    main()
