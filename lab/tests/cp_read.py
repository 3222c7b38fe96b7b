"""Reads a running lab's AWS control plane with boto3, the way pgw-doctor does, and prints one
JSON summary for lab/tests/lab.rs to check. Usage: cp_read.py ENDPOINT_URL API_ID STAGE REGION"""
import json
import sys

import boto3
from botocore.config import Config

url, api_id, stage, region = sys.argv[1:5]
kw = dict(endpoint_url=url, region_name=region, aws_access_key_id="testing",
          aws_secret_access_key="testing", config=Config(retries={"max_attempts": 1}))
ag, ec2, elb, sts = (boto3.client(s, **kw) for s in ("apigateway", "ec2", "elbv2", "sts"))
out = {}
api = ag.get_rest_api(restApiId=api_id)
out["api"] = {k: api.get(k) for k in ("id", "endpointConfiguration", "policy")}
st = ag.get_stage(restApiId=api_id, stageName=stage)
dep = ag.get_deployment(restApiId=api_id, deploymentId=st["deploymentId"], embed=["apisummary"])
out["api_summary"] = dep.get("apiSummary", {})
res = ag.get_resources(restApiId=api_id, embed=["methods"])["items"]
out["resources"] = {
    r["path"]: {v: {"auth": m.get("authorizationType"),
                    "connectionId": (m.get("methodIntegration") or {}).get("connectionId"),
                    "connectionType": (m.get("methodIntegration") or {}).get("connectionType"),
                    "uri": (m.get("methodIntegration") or {}).get("uri"),
                    "timeoutInMillis": (m.get("methodIntegration") or {}).get("timeoutInMillis")}
                for v, m in (r.get("resourceMethods") or {}).items()}
    for r in res
}
links = sorted({m["connectionId"] for r in out["resources"].values() for m in r.values()
                if m["connectionId"]})
out["vpc_links"] = {}
out["nlbs"] = {}
for lid in links:
    link = ag.get_vpc_link(vpcLinkId=lid)
    out["vpc_links"][lid] = {k: link.get(k) for k in ("status", "statusMessage", "targetArns")}
    arn = link["targetArns"][0]
    lb = elb.describe_load_balancers(LoadBalancerArns=[arn])["LoadBalancers"][0]
    listeners = elb.describe_listeners(LoadBalancerArn=arn)["Listeners"]
    tgs = elb.describe_target_groups(LoadBalancerArn=arn)["TargetGroups"]
    targets = []
    for tg in tgs:
        for d in elb.describe_target_health(TargetGroupArn=tg["TargetGroupArn"])["TargetHealthDescriptions"]:
            targets.append({"id": d["Target"]["Id"], "port": d["Target"].get("Port"),
                            "az": d["Target"].get("AvailabilityZone"),
                            "state": d["TargetHealth"]["State"],
                            "reason": d["TargetHealth"].get("Reason")})
    out["nlbs"][arn] = {"type": lb["Type"], "scheme": lb["Scheme"], "vpc": lb["VpcId"],
                        "listeners": [(l["Protocol"], l["Port"]) for l in listeners],
                        "targets": targets}
eps = ec2.describe_vpc_endpoints(Filters=[{"Name": "service-name",
                                           "Values": [f"com.amazonaws.{region}.execute-api"]}])["VpcEndpoints"]


def endpoint(e):
    enis = ec2.describe_network_interfaces(NetworkInterfaceIds=e["NetworkInterfaceIds"])["NetworkInterfaces"]
    return {"id": e["VpcEndpointId"], "vpc": e["VpcId"], "service": e["ServiceName"], "state": e["State"],
            "private_dns": e.get("PrivateDnsEnabled"),
            "groups": [g["GroupId"] for g in e["Groups"]],
            "enis": [(n["AvailabilityZone"], n["PrivateIpAddress"], n["InterfaceType"]) for n in enis]}


out["execute_api_endpoints"] = [endpoint(e) for e in eps]
e = eps[0]
rules = ec2.describe_security_group_rules(
    Filters=[{"Name": "group-id", "Values": [g["GroupId"] for g in e["Groups"]]}])["SecurityGroupRules"]
out["sg_ingress"] = [(r["IpProtocol"], r["FromPort"], r["ToPort"], r.get("CidrIpv4"))
                     for r in rules if not r["IsEgress"]]
out["vpc_cidrs"] = [a["CidrBlock"] for a in ec2.describe_vpcs(VpcIds=[e["VpcId"]])["Vpcs"][0]
                    ["CidrBlockAssociationSet"] if a["CidrBlockState"]["State"] == "associated"]
out["vpc_dns"] = [ec2.describe_vpc_attribute(VpcId=e["VpcId"], Attribute=a)[k]["Value"]
                  for a, k in (("enableDnsSupport", "EnableDnsSupport"),
                               ("enableDnsHostnames", "EnableDnsHostnames"))]
others = ec2.describe_vpc_endpoints(Filters=[{"Name": "vpc-id", "Values": [e["VpcId"]]},
                                             {"Name": "vpc-endpoint-type", "Values": ["Interface"]}])
out["service_endpoints"] = [endpoint(x) for x in others["VpcEndpoints"]
                            if x["ServiceName"].startswith("com.amazonaws.vpce.")]
creds = sts.assume_role(RoleArn="arn:aws:iam::014770000000:role/pgw-read",
                        RoleSessionName="pgw-read")["Credentials"]
pec2 = boto3.client("ec2", endpoint_url=url, region_name=region, aws_access_key_id=creds["AccessKeyId"],
                    aws_secret_access_key=creds["SecretAccessKey"], aws_session_token=creds["SessionToken"])
ids = [x["id"] for x in out["service_endpoints"]]
conns = pec2.describe_vpc_endpoint_connections(
    Filters=[{"Name": "vpc-endpoint-id", "Values": ids}])["VpcEndpointConnections"]
out["provider_connections"] = {c["VpcEndpointId"]: c["VpcEndpointState"] for c in conns}
json.dump(out, sys.stdout, indent=1, default=str)
