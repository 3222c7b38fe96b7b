//! `--discovery`: pgw-agent finds the private APIs the lab's VPC can reach in the lab's moto, as
//! the test adds, retags and deletes APIs through the real AWS SDK between refreshes; a probe file
//! of the same API and stage wins; past `max_probes` the rest wait; a denied call keeps the last
//! good set.

use aws_sdk_apigateway::types::{EndpointConfiguration, EndpointType};

use crate::promkit::{probe_toml_aws, temp_dir, Agent, Labs};

async fn client(endpoint: &str) -> aws_sdk_apigateway::Client {
    let creds =
        aws_sdk_apigateway::config::Credentials::new("testing", "testing", None, None, "test");
    let conf = aws_sdk_apigateway::Config::builder()
        .behavior_version(aws_sdk_apigateway::config::BehaviorVersion::latest())
        .region(aws_sdk_apigateway::config::Region::new("us-east-1"))
        .endpoint_url(endpoint)
        .credentials_provider(creds)
        .build();
    aws_sdk_apigateway::Client::from_conf(conf)
}

/// A PRIVATE API associated with the lab's endpoint, tagged `pgw = tag`, with stage `v1`.
async fn api(c: &aws_sdk_apigateway::Client, name: &str, tag: &str) -> String {
    let vpce = pgw_lab::Topology::default().vpce_id;
    let a = c
        .create_rest_api()
        .name(name)
        .endpoint_configuration(
            EndpointConfiguration::builder()
                .types(EndpointType::Private)
                .vpc_endpoint_ids(vpce)
                .build(),
        )
        .tags("pgw", tag)
        .send()
        .await
        .unwrap();
    let id = a.id().unwrap().to_string();
    let root = c
        .get_resources()
        .rest_api_id(&id)
        .send()
        .await
        .unwrap()
        .items()[0]
        .id()
        .unwrap()
        .to_string();
    c.put_method()
        .rest_api_id(&id)
        .resource_id(&root)
        .http_method("GET")
        .authorization_type("NONE")
        .send()
        .await
        .unwrap();
    c.put_integration()
        .rest_api_id(&id)
        .resource_id(&root)
        .http_method("GET")
        .r#type(aws_sdk_apigateway::types::IntegrationType::Mock)
        .send()
        .await
        .unwrap();
    c.create_deployment()
        .rest_api_id(&id)
        .stage_name("v1")
        .send()
        .await
        .unwrap();
    id
}

fn has_probe(m: &str, name: &str) -> bool {
    m.contains(&format!("pgw_probe_success{{probe=\"{name}\""))
}

#[test]
fn discovery_follows_the_apis_the_vpc_can_reach() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let labs = Labs::new();
    let lab = labs.start("healthy_cp_path_a");
    let url = lab.aws_endpoint_url().unwrap();
    let c = rt.block_on(client(&url));
    let file = temp_dir("discovery").join("discovery.toml");
    std::fs::write(
        &file,
        format!(
            "[[discovery]]\nregions = [\"us-east-1\"]\ntags = {{ pgw = \"on\" }}\nmax_probes = 2\ninterval = \"1s\"\nprobe_interval = \"2s\"\naws_endpoint_url = \"{url}\"\n"
        ),
    )
    .unwrap();
    let file = file.display().to_string();
    // A probe file for the lab's own API: discovery must not double it.
    let agent = Agent::start_with(
        &[("orders", probe_toml_aws("orders", &lab))],
        &lab.aws_env(),
        &["--discovery", &file],
    );
    let a = rt.block_on(api(&c, "a", "on"));
    let b = rt.block_on(api(&c, "b", "off"));
    agent.metrics_until("A discovered", |m| has_probe(m, &format!("{a}-v1")));
    let m = agent.metrics_until("a refresh that saw B", |m| {
        m.contains("pgw_discovery_probes 1")
    });
    assert!(!has_probe(&m, &format!("{b}-v1")), "B is tagged off: {m}");
    // The lab's API, tagged on: the probe file of the same API and stage wins.
    let arn = |id: &str| format!("arn:aws:apigateway:us-east-1::/restapis/{id}");
    rt.block_on(
        c.tag_resource()
            .resource_arn(arn("3eqr0osoc3"))
            .tags("pgw", "on")
            .send(),
    )
    .unwrap();
    // Retagged: B comes in.
    rt.block_on(
        c.tag_resource()
            .resource_arn(arn(&b))
            .tags("pgw", "on")
            .send(),
    )
    .unwrap();
    let m = agent.metrics_until("B discovered", |m| has_probe(m, &format!("{b}-v1")));
    assert!(
        has_probe(&m, "orders") && !has_probe(&m, "3eqr0osoc3-test"),
        "{m}"
    );
    // A third: past max_probes = 2, one waits.
    let c3 = rt.block_on(api(&c, "c", "on"));
    agent.metrics_until("one capped", |m| {
        m.contains("pgw_discovery_probes 2\n") && m.contains("pgw_discovery_probes_capped 1")
    });
    // A deleted: its probe and series go; C takes its place.
    rt.block_on(c.delete_rest_api().rest_api_id(&a).send())
        .unwrap();
    agent.metrics_until("A gone, B and C in", |m| {
        !m.contains(&format!("probe=\"{a}-v1\""))
            && has_probe(m, &format!("{b}-v1"))
            && has_probe(m, &format!("{c3}-v1"))
            && m.contains("pgw_discovery_probes_capped 0")
    });
    // GetRestApis denied: the refresh fails, counted; the last good set stays.
    lab.deny_aws(&["apigateway:GetRestApis"]);
    let m = agent.metrics_until("a failed refresh", |m| {
        m.contains("pgw_discovery_errors_total{operation=\"apigateway:GetRestApis\"}")
    });
    assert!(has_probe(&m, &format!("{b}-v1")), "{m}");
    // The status page says so.
    let (_, page) = crate::promkit::http(&agent.addr, "GET", "/").unwrap();
    assert!(page.contains("discovery: 2 probes in use"), "{page}");
    assert!(
        page.contains("last refresh failed: apigateway:GetRestApis"),
        "{page}"
    );
    labs.stop(lab);
}
