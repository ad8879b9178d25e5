//! docker-compose.yml, the Dockerfile and .env.example checked against the
//! code and the repository, without a Docker engine: every KAFKA_PULSE_*
//! variable is a real option with a value the real configuration accepts,
//! ports agree (listen address, published port, EXPOSE, HEALTHCHECK), mounted
//! paths and provisioned dashboards exist, images are pinned, depends_on
//! conditions can be met, and .env.example defines every required variable.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use clap::{CommandFactory, Parser};
use kafka_pulse::cli::Cli;
use kafka_pulse::config::{Config, FileConfig};
use serde_yaml::Value;

fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn read(path: &str) -> String {
    std::fs::read_to_string(repo().join(path)).unwrap_or_else(|e| panic!("cannot read {path}: {e}"))
}

fn compose() -> Value {
    serde_yaml::from_str(&read("docker-compose.yml")).expect("docker-compose.yml is valid YAML")
}

fn services(compose: &Value) -> BTreeMap<String, Value> {
    compose["services"]
        .as_mapping()
        .expect("docker-compose.yml has services")
        .iter()
        .map(|(name, service)| (name.as_str().unwrap().to_string(), service.clone()))
        .collect()
}

/// A scalar as compose sees it (numbers and booleans are strings to it).
fn scalar(value: &Value) -> Option<String> {
    match value {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// A service's environment, from either the mapping or the list form.
fn environment(service: &Value) -> BTreeMap<String, String> {
    match &service["environment"] {
        Value::Mapping(map) => map
            .iter()
            .map(|(k, v)| (scalar(k).unwrap(), scalar(v).unwrap_or_default()))
            .collect(),
        Value::Sequence(list) => list
            .iter()
            .map(|item| {
                let item = item.as_str().expect("environment entry is a string");
                let (k, v) = item.split_once('=').unwrap_or((item, ""));
                (k.to_string(), v.to_string())
            })
            .collect(),
        _ => BTreeMap::new(),
    }
}

/// `KEY=value` lines of .env.example.
fn env_example() -> BTreeMap<String, String> {
    read(".env.example")
        .lines()
        .map(str::trim)
        .filter(|line| !line.is_empty() && !line.starts_with('#'))
        .map(|line| {
            let (k, v) = line
                .split_once('=')
                .unwrap_or_else(|| panic!(".env.example: '{line}' is not KEY=value"));
            (k.trim().to_string(), v.trim().to_string())
        })
        .collect()
}

/// One `${...}` (or `$NAME`) reference in the compose file.
#[derive(Debug)]
struct Interpolation {
    name: String,
    has_default: bool,
}

fn interpolations(text: &str) -> Vec<Interpolation> {
    let mut found = Vec::new();
    let bytes = text.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] != b'$' {
            i += 1;
            continue;
        }
        match bytes.get(i + 1) {
            // `$$` is a literal dollar.
            Some(b'$') => i += 2,
            Some(b'{') => {
                let end = text[i..].find('}').expect("unclosed ${") + i;
                let inner = &text[i + 2..end];
                let name_end = inner
                    .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                    .unwrap_or(inner.len());
                let rest = &inner[name_end..];
                found.push(Interpolation {
                    name: inner[..name_end].to_string(),
                    has_default: rest.starts_with(":-") || rest.starts_with('-'),
                });
                i = end + 1;
            }
            Some(c) if c.is_ascii_alphabetic() || *c == b'_' => {
                let name: String = text[i + 1..]
                    .chars()
                    .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                    .collect();
                i += 1 + name.len();
                found.push(Interpolation {
                    name,
                    has_default: false,
                });
            }
            _ => i += 1,
        }
    }
    found
}

/// What compose would run with .env copied from .env.example.
fn interpolate(value: &str, env: &BTreeMap<String, String>) -> String {
    let mut out = String::new();
    let mut rest = value;
    while let Some(start) = rest.find("${") {
        out.push_str(&rest[..start]);
        let end = rest[start..].find('}').unwrap() + start;
        let inner = &rest[start + 2..end];
        let name_end = inner
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .unwrap_or(inner.len());
        let name = &inner[..name_end];
        let default = inner[name_end..]
            .strip_prefix(":-")
            .or_else(|| inner[name_end..].strip_prefix('-'));
        match (env.get(name), default) {
            (Some(v), _) => out.push_str(v),
            (None, Some(d)) => out.push_str(d),
            (None, None) => panic!("${{{name}}} has no value in .env.example and no default"),
        }
        rest = &rest[end + 1..];
    }
    out.push_str(rest);
    out
}

/// The Dockerfile as instructions (keyword, arguments), continuations joined,
/// comments dropped.
fn dockerfile() -> Vec<(String, String)> {
    let text = read("Dockerfile");
    let mut instructions = Vec::new();
    let mut current = String::new();
    for line in text.lines() {
        let trimmed = line.trim();
        if trimmed.starts_with('#') || (trimmed.is_empty() && current.is_empty()) {
            continue;
        }
        match trimmed.strip_suffix('\\') {
            Some(part) => {
                current.push_str(part);
                current.push(' ');
            }
            None => {
                current.push_str(trimmed);
                let (keyword, args) = current.trim().split_once(char::is_whitespace).unwrap();
                instructions.push((keyword.to_uppercase(), args.trim().to_string()));
                current.clear();
            }
        }
    }
    instructions
}

fn dockerfile_env() -> BTreeMap<String, String> {
    dockerfile()
        .into_iter()
        .filter(|(k, _)| k == "ENV")
        .map(|(_, args)| {
            let (k, v) = args
                .split_once(['=', ' '])
                .expect("ENV KEY=value in the Dockerfile");
            (k.to_string(), v.trim().to_string())
        })
        .collect()
}

/// The port at the end of HOST:PORT or a URL's authority.
fn port_of(address: &str) -> u16 {
    let authority = address.split("://").last().unwrap();
    let authority = authority.split('/').next().unwrap();
    authority
        .rsplit_once(':')
        .and_then(|(_, p)| p.parse().ok())
        .unwrap_or_else(|| panic!("no port in '{address}'"))
}

/// Services built from this repository's Dockerfile.
fn built_here(service: &Value) -> bool {
    match &service["build"] {
        Value::String(context) => context == ".",
        Value::Mapping(_) => {
            service["build"]["context"].as_str() == Some(".")
                && service["build"]["dockerfile"]
                    .as_str()
                    .is_none_or(|d| d == "Dockerfile")
        }
        _ => false,
    }
}

/// Short-syntax `HOST_PATH:CONTAINER_PATH[:MODE]` bind mounts (host path
/// relative to the repository) and named volumes.
enum Mount {
    Bind { host: PathBuf, container: String },
    Named { name: String },
}

fn mounts(service: &Value) -> Vec<Mount> {
    service["volumes"]
        .as_sequence()
        .map(|list| {
            list.iter()
                .map(|item| {
                    let text = item.as_str().expect("short volume syntax");
                    let mut parts = text.split(':');
                    let source = parts.next().unwrap();
                    let container = parts.next().expect("volume has a container path");
                    if source.starts_with("./") || source.starts_with('/') {
                        Mount::Bind {
                            host: repo().join(source),
                            container: container.to_string(),
                        }
                    } else {
                        Mount::Named {
                            name: source.to_string(),
                        }
                    }
                })
                .collect()
        })
        .unwrap_or_default()
}

/// The host path behind a container path of `service`, through its bind mounts.
fn host_path(service: &Value, container_path: &str) -> Option<PathBuf> {
    mounts(service).into_iter().find_map(|mount| match mount {
        Mount::Bind { host, container } => {
            let rest = container_path.strip_prefix(&container)?;
            if !rest.is_empty() && !rest.starts_with('/') {
                return None;
            }
            Some(host.join(rest.trim_start_matches('/')))
        }
        Mount::Named { .. } => None,
    })
}

/// Every option's environment variable, from the clap definition, with its
/// long flag.
fn option_env_vars() -> BTreeMap<String, String> {
    Cli::command()
        .get_arguments()
        .filter_map(|arg| {
            let env = arg.get_env()?.to_str()?.to_string();
            Some((env, arg.get_long()?.to_string()))
        })
        .collect()
}

/// Variables kafka-pulse reads besides its options (src/main.rs).
const OTHER_KAFKA_PULSE_VARS: [&str; 1] = ["KAFKA_PULSE_LOG"];

/// The configuration a service built here would run with: its KAFKA_PULSE_*
/// variables (over the Dockerfile's ENV) turned into the flags they stand
/// for and validated by the real `Config::merge`.
fn config_of(service: &Value) -> (Config, BTreeMap<String, String>) {
    let options = option_env_vars();
    let example = env_example();
    let mut vars = dockerfile_env();
    vars.extend(environment(service));
    vars.retain(|k, _| k.starts_with("KAFKA_PULSE_"));
    let mut args = vec!["kafka-pulse".to_string()];
    for (name, value) in &vars {
        if OTHER_KAFKA_PULSE_VARS.contains(&name.as_str()) {
            continue;
        }
        let long = options.get(name).unwrap_or_else(|| {
            panic!(
                "{name} is not a kafka-pulse option (none of Cli's args has env = \"{name}\"); \
                 rename it in docker-compose.yml/Dockerfile to one of: {:?}",
                options.keys().collect::<Vec<_>>()
            )
        });
        args.push(format!("--{long}={}", interpolate(value, &example)));
    }
    let cli = Cli::try_parse_from(&args).unwrap_or_else(|e| panic!("{args:?}: {e}"));
    let config = Config::merge(cli.options, FileConfig::default())
        .unwrap_or_else(|e| panic!("kafka-pulse would refuse {args:?}: {e}"));
    (config, vars)
}

#[test]
fn every_kafka_pulse_variable_is_a_real_option_with_a_valid_value() {
    let compose = compose();
    let options = option_env_vars();
    assert!(
        options.contains_key("KAFKA_PULSE_BROKERS") && options.contains_key("KAFKA_PULSE_DEMO"),
        "the clap definition lost its env names: {options:?}"
    );
    for (name, service) in services(&compose) {
        for var in environment(&service).keys() {
            if var.starts_with("KAFKA_PULSE_") {
                assert!(
                    options.contains_key(var) || OTHER_KAFKA_PULSE_VARS.contains(&var.as_str()),
                    "service {name} sets {var}, which is no kafka-pulse option"
                );
            }
        }
    }
    for var in dockerfile_env().keys() {
        if var.starts_with("KAFKA_PULSE_") {
            assert!(
                options.contains_key(var),
                "Dockerfile sets {var}, which is no kafka-pulse option"
            );
        }
    }

    let built: Vec<(String, Value)> = services(&compose)
        .into_iter()
        .filter(|(_, s)| built_here(s))
        .collect();
    assert!(!built.is_empty(), "no service is built from the Dockerfile");
    let configs: Vec<(String, Config)> = built
        .iter()
        .map(|(name, service)| (name.clone(), config_of(service).0))
        .collect();
    // One watches the compose Kafka and ships to both sinks; one produces
    // the demo traffic into the same Kafka.
    let all = services(&compose);
    for (name, config) in &configs {
        let brokers = config.brokers.as_ref().unwrap_or_else(|| {
            panic!("service {name} runs no --brokers: it would start an embedded broker")
        });
        for broker in brokers {
            let host = broker.rsplit_once(':').unwrap().0;
            let kafka = all.get(host).unwrap_or_else(|| {
                panic!("service {name}: broker host {host} is no compose service")
            });
            let advertised = environment(kafka)
                .get("KAFKA_ADVERTISED_LISTENERS")
                .cloned()
                .unwrap_or_default();
            assert!(
                advertised.split(',').any(|l| l.ends_with(&format!("//{broker}"))),
                "service {name} bootstraps from {broker}, which {host} does not advertise ({advertised})"
            );
        }
    }
    assert!(
        configs.iter().any(|(_, c)| c.demo),
        "no kafka-pulse service runs the demo traffic (KAFKA_PULSE_DEMO)"
    );
    assert!(
        configs
            .iter()
            .any(|(_, c)| c.influx.is_some() && c.elasticsearch.is_some() && !c.demo),
        "no kafka-pulse service watches without demo and ships to InfluxDB and Elasticsearch"
    );
}

#[test]
fn ports_agree_between_listen_address_published_port_expose_and_healthcheck() {
    let instructions = dockerfile();
    let exposed: Vec<u16> = instructions
        .iter()
        .filter(|(k, _)| k == "EXPOSE")
        .flat_map(|(_, args)| {
            args.split_whitespace()
                .map(|p| p.trim_end_matches("/tcp").parse().unwrap())
        })
        .collect();
    let healthcheck = instructions
        .iter()
        .find(|(k, _)| k == "HEALTHCHECK")
        .map(|(_, args)| args.clone())
        .expect("the Dockerfile has a HEALTHCHECK");
    let url = healthcheck
        .split_whitespace()
        .find(|word| word.starts_with("http://"))
        .expect("HEALTHCHECK asks an http:// URL");
    assert!(
        url.ends_with("/api/v1/health"),
        "HEALTHCHECK asks {url}, not /api/v1/health"
    );
    let image_listen = dockerfile_env()
        .get("KAFKA_PULSE_LISTEN")
        .cloned()
        .expect("the Dockerfile sets KAFKA_PULSE_LISTEN");
    assert!(
        image_listen.starts_with("0.0.0.0:"),
        "the image must listen on 0.0.0.0 to be reachable, got {image_listen}"
    );
    let port = port_of(&image_listen);
    assert_eq!(
        exposed,
        vec![port],
        "EXPOSE vs KAFKA_PULSE_LISTEN={image_listen}"
    );
    assert_eq!(
        port_of(url),
        port,
        "HEALTHCHECK port vs KAFKA_PULSE_LISTEN={image_listen}"
    );

    let compose = compose();
    for (name, service) in services(&compose) {
        let published: Vec<(String, u16, u16)> = service["ports"]
            .as_sequence()
            .map(|list| {
                list.iter()
                    .map(|p| {
                        let text = scalar(p).unwrap();
                        let parts: Vec<&str> = text.split(':').collect();
                        assert_eq!(
                            parts.len(),
                            3,
                            "service {name}: publish '{text}' as 127.0.0.1:HOST:CONTAINER"
                        );
                        (
                            parts[0].to_string(),
                            parts[1].parse().unwrap(),
                            parts[2].parse().unwrap(),
                        )
                    })
                    .collect()
            })
            .unwrap_or_default();
        for (ip, _, _) in &published {
            assert_eq!(ip, "127.0.0.1", "service {name} publishes beyond loopback");
        }
        if built_here(&service) {
            let (_, vars) = config_of(&service);
            let listen = &vars["KAFKA_PULSE_LISTEN"];
            assert_eq!(
                port_of(listen),
                port,
                "service {name}: KAFKA_PULSE_LISTEN={listen} but the image's EXPOSE/HEALTHCHECK use {port}"
            );
            assert!(
                listen.starts_with("0.0.0.0:"),
                "service {name} listens on {listen}"
            );
            for (_, _, container) in &published {
                assert_eq!(
                    *container, port,
                    "service {name} publishes container port {container}"
                );
            }
        }
    }
}

#[test]
fn urls_between_services_name_real_services_and_ports() {
    let compose = compose();
    let all = services(&compose);
    let container_ports = |service: &Value| -> Vec<u16> {
        service["ports"]
            .as_sequence()
            .map(|l| l.iter().map(|p| port_of(&scalar(p).unwrap())).collect())
            .unwrap_or_default()
    };
    let mut checked = 0;
    for (name, service) in &all {
        for (var, value) in environment(service) {
            if !value.starts_with("http://") && !value.starts_with("https://") {
                continue;
            }
            let host = value
                .split("://")
                .nth(1)
                .unwrap()
                .split([':', '/'])
                .next()
                .unwrap();
            if host == "localhost" || host == "127.0.0.1" {
                continue;
            }
            let target = all.get(host).unwrap_or_else(|| {
                panic!("service {name}: {var}={value} names no compose service")
            });
            assert!(
                container_ports(target).contains(&port_of(&value)),
                "service {name}: {var}={value}, but {host} serves {:?}",
                container_ports(target)
            );
            checked += 1;
        }
    }
    assert!(
        checked >= 4,
        "expected the sinks', Grafana's and the import's URLs, saw {checked}"
    );
}

#[test]
fn mounted_paths_exist_and_named_volumes_are_declared() {
    let compose = compose();
    let declared: BTreeSet<String> = compose["volumes"]
        .as_mapping()
        .map(|m| m.keys().map(|k| k.as_str().unwrap().to_string()).collect())
        .unwrap_or_default();
    let mut binds = 0;
    for (name, service) in services(&compose) {
        for mount in mounts(&service) {
            match mount {
                Mount::Bind { host, container } => {
                    assert!(
                        host.exists(),
                        "service {name} mounts {} at {container}, which does not exist",
                        host.display()
                    );
                    binds += 1;
                }
                Mount::Named { name: volume } => assert!(
                    declared.contains(&volume),
                    "service {name} uses volume {volume}, not declared under volumes:"
                ),
            }
        }
        // Scripts a service runs from a mounted directory exist there.
        for key in ["entrypoint", "command"] {
            for word in service[key].as_sequence().into_iter().flatten() {
                let word = word.as_str().unwrap_or_default();
                if let Some(host) = word
                    .starts_with('/')
                    .then(|| host_path(&service, word))
                    .flatten()
                {
                    assert!(
                        host.is_file(),
                        "service {name} runs {word}: {} is missing",
                        host.display()
                    );
                }
            }
        }
    }
    assert!(binds >= 3, "expected grafana/ and elk/ mounts, saw {binds}");
    let setup = services(&compose)
        .into_values()
        .find(|s| {
            s["entrypoint"].as_sequence().is_some_and(|e| {
                e.iter()
                    .any(|w| w.as_str().is_some_and(|w| w.ends_with("import.sh")))
            })
        })
        .expect("a one-shot service runs elk/import.sh");
    let script = host_path(&setup, "/elk/import.sh").expect("elk/ is mounted at /elk");
    assert_eq!(script, repo().join("./elk").join("import.sh"));
    assert!(
        host_path(&setup, "/elk/kibana/kafka-pulse.ndjson").is_some_and(|p| p.is_file()),
        "the saved objects import.sh reads are not mounted"
    );
}

/// Every `"datasource": {"uid": ...}` in a dashboard.
fn datasource_uids(value: &serde_json::Value, found: &mut BTreeSet<String>) {
    match value {
        serde_json::Value::Object(map) => {
            for (key, inner) in map {
                if key == "datasource" {
                    if let Some(uid) = inner.get("uid").and_then(|u| u.as_str()) {
                        found.insert(uid.to_string());
                    }
                }
                datasource_uids(inner, found);
            }
        }
        serde_json::Value::Array(list) => list.iter().for_each(|v| datasource_uids(v, found)),
        _ => {}
    }
}

#[test]
fn grafana_provisioning_points_at_existing_dashboards_and_set_variables() {
    let compose = compose();
    let grafana = services(&compose)
        .into_values()
        .find(|s| {
            s["image"]
                .as_str()
                .is_some_and(|i| i.starts_with("grafana/grafana:"))
        })
        .expect("a grafana service");
    let env = environment(&grafana);
    let provisioning = host_path(&grafana, "/etc/grafana/provisioning")
        .expect("grafana/provisioning is mounted at /etc/grafana/provisioning");

    let mut dashboards = 0;
    for entry in
        std::fs::read_dir(provisioning.join("dashboards")).expect("provisioning/dashboards")
    {
        let path = entry.unwrap().path();
        let file: Value = serde_yaml::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        for provider in file["providers"].as_sequence().expect("providers") {
            let container = provider["options"]["path"].as_str().expect("options.path");
            let host = host_path(&grafana, container).unwrap_or_else(|| {
                panic!(
                    "{}: {container} is not mounted into the grafana service",
                    path.display()
                )
            });
            assert!(
                host.is_dir(),
                "{}: {container} is {}, not a directory",
                path.display(),
                host.display()
            );
            for json in std::fs::read_dir(&host).unwrap() {
                let json = json.unwrap().path();
                if json.extension().is_some_and(|e| e == "json") {
                    let dashboard: serde_json::Value =
                        serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
                    let mut uids = BTreeSet::new();
                    datasource_uids(&dashboard, &mut uids);
                    assert!(
                        !uids.is_empty(),
                        "{} uses no datasource uid",
                        json.display()
                    );
                    dashboards += 1;
                    for uid in uids {
                        assert!(
                            provisioned_datasource_uids(&provisioning).contains(&uid),
                            "{} uses datasource uid {uid}, which is not provisioned",
                            json.display()
                        );
                    }
                }
            }
        }
    }
    assert!(
        dashboards >= 8,
        "expected the four InfluxDB and four Prometheus dashboards of grafana/dashboards, saw {dashboards}"
    );
    // The dashboard files the READMEs name are the ones provisioned.
    let mounted = host_path(&grafana, "/var/lib/grafana/dashboards/kafka-pulse")
        .expect("grafana/dashboards is mounted");
    for readme in ["grafana/README.md", "README.md"] {
        for word in
            read(readme).split(|c: char| c == '`' || c.is_whitespace() || c == '(' || c == ')')
        {
            if word.starts_with("kafka-pulse-") && word.ends_with(".json") {
                assert!(
                    mounted.join(word).is_file(),
                    "{readme} names {word}, which is not in grafana/dashboards"
                );
            }
        }
    }

    let home = &env["GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH"];
    assert!(
        host_path(&grafana, home).is_some_and(|p| p.is_file()),
        "GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH={home} is no mounted dashboard file"
    );

    // The datasource's ${VARS} are set on the grafana service.
    for entry in std::fs::read_dir(provisioning.join("datasources")).unwrap() {
        let text = std::fs::read_to_string(entry.unwrap().path()).unwrap();
        let body: String = text
            .lines()
            .filter(|l| !l.trim_start().starts_with('#'))
            .collect::<Vec<_>>()
            .join("\n");
        let used = interpolations(&body);
        assert!(
            used.iter().any(|i| i.name == "INFLUXDB_URL"),
            "datasource lost ${{INFLUXDB_URL}}"
        );
        for var in used {
            assert!(
                env.contains_key(&var.name),
                "the datasource reads ${{{}}}, which the grafana service does not set",
                var.name
            );
        }
    }
    // Grafana reads the bucket kafka-pulse writes, with its token.
    let watcher = services(&compose)
        .into_values()
        .find(|s| built_here(s) && environment(s).contains_key("KAFKA_PULSE_INFLUX_URL"))
        .expect("a kafka-pulse service with the InfluxDB sink");
    let watcher_env = environment(&watcher);
    assert_eq!(env["INFLUXDB_DB"], watcher_env["KAFKA_PULSE_INFLUX_BUCKET"]);
    assert_eq!(
        env["INFLUXDB_TOKEN"],
        watcher_env["KAFKA_PULSE_INFLUX_TOKEN"]
    );
    assert_eq!(env["INFLUXDB_URL"], watcher_env["KAFKA_PULSE_INFLUX_URL"]);
}

fn provisioned_datasource_uids(provisioning: &Path) -> BTreeSet<String> {
    let mut uids = BTreeSet::new();
    for entry in std::fs::read_dir(provisioning.join("datasources")).unwrap() {
        let file: Value =
            serde_yaml::from_str(&std::fs::read_to_string(entry.unwrap().path()).unwrap()).unwrap();
        for source in file["datasources"].as_sequence().into_iter().flatten() {
            uids.extend(source["uid"].as_str().map(String::from));
        }
    }
    uids
}

/// `name:tag` with a version in the tag (not `latest`, not a moving name
/// such as `bookworm-slim`).
fn assert_pinned(what: &str, image: &str) {
    let last = image.rsplit('/').next().unwrap();
    let tag = last.split_once(':').map(|(_, t)| t).unwrap_or("");
    assert!(
        !tag.is_empty() && tag != "latest" && tag.chars().any(|c| c.is_ascii_digit()),
        "{what} uses image '{image}': pin an exact version tag"
    );
}

#[test]
fn every_image_is_pinned() {
    let compose = compose();
    for (name, service) in services(&compose) {
        let image = service["image"].as_str().unwrap_or_default();
        if built_here(&service) {
            assert!(
                image.contains(':') && !image.ends_with(":latest"),
                "service {name} tags its build '{image}': give it a tag other than latest"
            );
        } else {
            assert_pinned(&format!("service {name}"), image);
        }
    }
    let froms: Vec<String> = dockerfile()
        .into_iter()
        .filter(|(k, _)| k == "FROM")
        .map(|(_, args)| args.split_whitespace().next().unwrap().to_string())
        .collect();
    assert_eq!(
        froms.len(),
        2,
        "a build stage and a runtime stage: {froms:?}"
    );
    for from in &froms {
        assert_pinned("the Dockerfile", from);
    }
    assert!(
        froms[1].starts_with("debian:"),
        "runtime image {}",
        froms[1]
    );
}

#[test]
fn depends_on_targets_exist_and_can_become_ready() {
    let compose = compose();
    let all = services(&compose);
    let image_has_healthcheck = dockerfile().iter().any(|(k, _)| k == "HEALTHCHECK");
    let mut conditions = 0;
    for (name, service) in &all {
        let Some(depends) = service["depends_on"].as_mapping() else {
            assert!(
                service["depends_on"].is_null(),
                "service {name}: use the long depends_on form with a condition"
            );
            continue;
        };
        for (target, spec) in depends {
            let target = target.as_str().unwrap();
            let target_service = all.get(target).unwrap_or_else(|| {
                panic!("service {name} depends on {target}, which does not exist")
            });
            let condition = spec["condition"].as_str().unwrap_or("service_started");
            match condition {
                "service_healthy" => {
                    let test = &target_service["healthcheck"]["test"];
                    let own = !test.is_null() && target_service["healthcheck"]["disable"].as_bool() != Some(true);
                    assert!(
                        own || (built_here(target_service) && image_has_healthcheck),
                        "service {name} waits for {target} to be healthy, but {target} has no healthcheck"
                    );
                }
                "service_completed_successfully" => assert!(
                    matches!(target_service["restart"].as_str(), None | Some("no")),
                    "service {name} waits for {target} to complete, but {target} restarts"
                ),
                other => panic!("service {name} depends on {target} with condition {other}: wait for health or completion"),
            }
            conditions += 1;
        }
    }
    assert!(
        conditions >= 5,
        "expected the stack to wait for readiness, saw {conditions} conditions"
    );
}

#[test]
fn env_example_defines_every_required_variable_and_nothing_else() {
    let text = read("docker-compose.yml");
    let example = env_example();
    let used = interpolations(&text);
    assert!(
        !used.is_empty(),
        "docker-compose.yml takes nothing from .env"
    );
    for var in &used {
        if !var.has_default {
            assert!(
                example.contains_key(&var.name),
                "docker-compose.yml needs ${{{}}}, which .env.example does not define",
                var.name
            );
            assert!(
                !example[&var.name].is_empty(),
                ".env.example leaves {} empty",
                var.name
            );
        }
    }
    for key in example.keys() {
        assert!(
            used.iter().any(|v| &v.name == key),
            ".env.example defines {key}, which docker-compose.yml never uses"
        );
    }
    // The real .env holds secrets: never committed, never sent to a build.
    let ignored = |file: &str| {
        read(file)
            .lines()
            .any(|l| matches!(l.trim(), ".env" | "/.env"))
    };
    assert!(ignored(".gitignore"), ".gitignore must list .env");
    assert!(ignored(".dockerignore"), ".dockerignore must list .env");
}

#[test]
fn dockerfile_builds_what_cargo_and_ci_need() {
    let instructions = dockerfile();
    let runs: String = instructions
        .iter()
        .filter(|(k, _)| k == "RUN")
        .map(|(_, a)| a.as_str())
        .collect::<Vec<_>>()
        .join("\n");
    // The stand-in build needs a file for every [[bench]] the manifest names.
    let manifest: toml::Value = toml::from_str(&read("Cargo.toml")).unwrap();
    for bench in manifest["bench"].as_array().into_iter().flatten() {
        let name = bench["name"].as_str().unwrap();
        assert!(
            runs.contains(&format!("benches/{name}.rs")),
            "the Dockerfile's dependency layer has no stand-in benches/{name}.rs"
        );
    }
    assert!(
        !repo().join("build.rs").exists() || runs.contains("build.rs"),
        "build.rs exists: the Dockerfile's dependency layer must provide it"
    );
    assert!(runs.contains("cargo build --release --locked"), "{runs}");
    // The build packages .ci/run installs are installed in the builder.
    let ci = read(".ci/run");
    for package in ["build-essential", "pkg-config", "zlib1g-dev", "libssl-dev"] {
        assert!(
            ci.contains(package),
            ".ci/run no longer installs {package}: update this list"
        );
        assert!(
            runs.contains(package),
            "the builder stage does not install {package}"
        );
    }
    // Every COPY source exists and is not excluded by .dockerignore.
    let ignore = read(".dockerignore");
    let ignored: Vec<&str> = ignore
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(|l| l.trim_end_matches('/'))
        .collect();
    for (_, args) in instructions.iter().filter(|(k, _)| k == "COPY") {
        if args.starts_with("--from") {
            continue;
        }
        let words: Vec<&str> = args.split_whitespace().collect();
        for source in &words[..words.len() - 1] {
            assert!(
                repo().join(source).exists(),
                "the Dockerfile copies {source}, which does not exist"
            );
            assert!(
                !ignored.contains(source),
                "the Dockerfile copies {source}, which .dockerignore excludes"
            );
        }
    }
    for excluded in ["target", ".git"] {
        assert!(
            ignored.contains(&excluded),
            ".dockerignore must exclude {excluded}"
        );
    }
    // Build arguments compose passes are declared.
    let args: Vec<String> = instructions
        .iter()
        .filter(|(k, _)| k == "ARG")
        .map(|(_, a)| a.split('=').next().unwrap().to_string())
        .collect();
    for (name, service) in services(&compose()) {
        if let Some(build_args) = service["build"]["args"].as_mapping() {
            for key in build_args.keys() {
                let key = key.as_str().unwrap();
                assert!(
                    args.iter().any(|a| a == key),
                    "service {name} passes build arg {key}, which the Dockerfile does not declare"
                );
            }
        }
    }
    // Runs as a non-root user.
    let user = instructions
        .iter()
        .rev()
        .find(|(k, _)| k == "USER")
        .map(|(_, a)| a.clone());
    assert!(
        user.as_deref()
            .is_some_and(|u| !u.starts_with("root") && !u.starts_with("0")),
        "the runtime image must run as a non-root USER, got {user:?}"
    );
}

#[test]
fn interpolation_parser_reads_compose_forms() {
    let found = interpolations("a ${REQ:?set it} b ${OPT:-x} $$NOT ${PLAIN} $BARE c");
    let summary: Vec<(&str, bool)> = found
        .iter()
        .map(|i| (i.name.as_str(), i.has_default))
        .collect();
    assert_eq!(
        summary,
        [
            ("REQ", false),
            ("OPT", true),
            ("PLAIN", false),
            ("BARE", false)
        ]
    );
    let env = BTreeMap::from([("REQ".to_string(), "v".to_string())]);
    assert_eq!(interpolate("${REQ:?m}/${OPT:-d}", &env), "v/d");
}

/// The prometheus service runs prometheus/prometheus.yml: it scrapes the
/// kafka-pulse service on its listen port, labels it with kafka-pulse's
/// cluster name (the dashboards' `cluster` variable), links alerts to the
/// published kafka-pulse URL, loads the rules file, and Grafana's Prometheus
/// datasource points at it.
#[test]
fn prometheus_scrapes_kafka_pulse_with_the_rules_and_grafana_reads_it() {
    let compose = compose();
    let all = services(&compose);
    let (name, prometheus) = all
        .iter()
        .find(|(_, s)| {
            s["image"]
                .as_str()
                .is_some_and(|i| i.starts_with("prom/prometheus:"))
        })
        .expect("a prometheus service");
    let args: Vec<&str> = prometheus["command"]
        .as_sequence()
        .expect("prometheus command as a list")
        .iter()
        .map(|w| w.as_str().unwrap())
        .collect();
    let config_path = args
        .iter()
        .find_map(|a| a.strip_prefix("--config.file="))
        .expect("--config.file");
    let config_host = host_path(prometheus, config_path)
        .unwrap_or_else(|| panic!("service {name}: {config_path} is not mounted"));
    let config: Value = serde_yaml::from_str(&std::fs::read_to_string(&config_host).unwrap())
        .expect("prometheus.yml is YAML");

    // Rule files resolve against the config file's directory, as Prometheus does.
    let rule_files: Vec<&str> = config["rule_files"]
        .as_sequence()
        .expect("rule_files")
        .iter()
        .map(|r| r.as_str().unwrap())
        .collect();
    assert!(
        rule_files.contains(&"kafka-pulse-rules.yml"),
        "the alert rules are not loaded: {rule_files:?}"
    );
    for rule in &rule_files {
        let path = config_host.parent().unwrap().join(rule);
        assert!(path.is_file(), "rule file {} is missing", path.display());
    }

    let watcher = all
        .values()
        .find(|s| built_here(s) && environment(s).contains_key("KAFKA_PULSE_INFLUX_URL"))
        .expect("the watching kafka-pulse service");
    let (_, vars) = config_of(watcher);
    let watcher_env = environment(watcher);
    let mut targets = 0;
    for job in config["scrape_configs"]
        .as_sequence()
        .expect("scrape_configs")
    {
        for static_config in job["static_configs"].as_sequence().into_iter().flatten() {
            for target in static_config["targets"].as_sequence().unwrap() {
                let target = target.as_str().unwrap();
                let (host, port) = target.rsplit_once(':').expect("host:port target");
                let scraped = all
                    .get(host)
                    .unwrap_or_else(|| panic!("prometheus scrapes {target}: no such service"));
                assert!(built_here(scraped), "{target} is not kafka-pulse");
                assert_eq!(
                    port.parse::<u16>().unwrap(),
                    port_of(&vars["KAFKA_PULSE_LISTEN"]),
                    "prometheus scrapes {target}, kafka-pulse listens on {}",
                    vars["KAFKA_PULSE_LISTEN"]
                );
                assert!(
                    watcher_env
                        .get("KAFKA_PULSE_ALLOWED_HOSTS")
                        .is_some_and(|h| h.split(',').any(|h| h.trim() == host)),
                    "kafka-pulse would refuse Host: {host} (KAFKA_PULSE_ALLOWED_HOSTS)"
                );
                // kafka-pulse labels every series with its cluster itself; a
                // target label of that name would push it aside
                // (`exported_cluster`) and break the dashboards' variable.
                assert!(
                    static_config["labels"]["cluster"].is_null(),
                    "prometheus.yml sets a `cluster` target label: kafka-pulse's own would become exported_cluster"
                );
                assert!(
                    watcher_env.contains_key("KAFKA_PULSE_CLUSTER_NAME"),
                    "the compose stack names its cluster (the `cluster` label of every series)"
                );
                targets += 1;
            }
        }
    }
    assert_eq!(targets, 1, "prometheus should scrape the one kafka-pulse");

    // Alert links go to the kafka-pulse URL published on the host.
    let link = config["global"]["external_labels"]["kafka_pulse_url"]
        .as_str()
        .expect("external label kafka_pulse_url");
    let published: Vec<String> = watcher["ports"]
        .as_sequence()
        .unwrap()
        .iter()
        .map(|p| scalar(p).unwrap())
        .collect();
    assert!(
        published
            .iter()
            .any(|p| link == format!("http://{}", p.rsplit_once(':').unwrap().0)),
        "kafka_pulse_url {link} is not kafka-pulse's published address {published:?}"
    );

    // Grafana's Prometheus datasource reads PROMETHEUS_URL, set to this service.
    let grafana = all
        .values()
        .find(|s| {
            s["image"]
                .as_str()
                .is_some_and(|i| i.starts_with("grafana/grafana:"))
        })
        .expect("a grafana service");
    let url = &environment(grafana)["PROMETHEUS_URL"];
    assert_eq!(url, &format!("http://{name}:9090"));
    let provisioning = host_path(grafana, "/etc/grafana/provisioning").unwrap();
    let mut prometheus_sources = 0;
    for entry in std::fs::read_dir(provisioning.join("datasources")).unwrap() {
        let file: Value =
            serde_yaml::from_str(&std::fs::read_to_string(entry.unwrap().path()).unwrap()).unwrap();
        for source in file["datasources"].as_sequence().into_iter().flatten() {
            if source["type"] == "prometheus" {
                assert_eq!(source["url"].as_str(), Some("${PROMETHEUS_URL}"));
                assert_eq!(source["uid"].as_str(), Some("kafka-pulse-prometheus"));
                prometheus_sources += 1;
            }
        }
    }
    assert_eq!(
        prometheus_sources, 1,
        "one provisioned Prometheus datasource"
    );
}
