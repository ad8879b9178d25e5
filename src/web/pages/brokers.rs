//! `/brokers`: who is in the cluster, who leads what, replication health.

use askama::Template;
use axum::extract::State;
use axum::response::Response;

use super::{html_page, StatusView};
use crate::model::Snapshot;
use crate::web::clusters::ClusterPlace;
use crate::web::{format, AppState};

pub struct BrokerRow {
    pub node_id: i32,
    pub address: String,
    pub rack: String,
    pub controller: bool,
    pub leader_partitions: String,
    pub replica_partitions: String,
    pub out_of_sync: usize,
}

pub struct BrokersView {
    pub status: StatusView,
    pub controller: String,
    pub partitions: String,
    pub under_replicated: usize,
    pub offline: usize,
    pub rows: Vec<BrokerRow>,
}

impl BrokersView {
    pub fn build(snapshot: &Snapshot) -> Self {
        let mut brokers: Vec<_> = snapshot.brokers.iter().collect();
        brokers.sort_by_key(|b| b.node_id);
        BrokersView {
            status: StatusView::build(snapshot),
            controller: snapshot
                .controller_id
                .map(|id| id.to_string())
                .unwrap_or_else(|| "unknown".into()),
            partitions: format::int(snapshot.partitions().count() as i64),
            under_replicated: snapshot.under_replicated_partitions(),
            offline: snapshot.offline_partitions(),
            rows: brokers
                .into_iter()
                .map(|b| {
                    let (mut leaders, mut replicas, mut out_of_sync) = (0, 0, 0);
                    for p in snapshot.partitions() {
                        leaders += usize::from(p.leader == b.node_id);
                        if p.replicas.contains(&b.node_id) {
                            replicas += 1;
                            out_of_sync += usize::from(!p.isr.contains(&b.node_id));
                        }
                    }
                    BrokerRow {
                        node_id: b.node_id,
                        address: format!("{}:{}", b.host, b.port),
                        rack: b.rack.clone().unwrap_or_else(|| "—".into()),
                        controller: snapshot.controller_id == Some(b.node_id),
                        leader_partitions: format::int(leaders as i64),
                        replica_partitions: format::int(replicas as i64),
                        out_of_sync,
                    }
                })
                .collect(),
        }
    }
}

#[derive(Template)]
#[template(path = "brokers_live.html")]
struct BrokersLive<'a> {
    status: &'a StatusView,
    view: &'a BrokersView,
}

#[derive(Template)]
#[template(path = "brokers.html")]
struct BrokersPage<'a> {
    status: &'a StatusView,
    view: &'a BrokersView,
    place: &'a ClusterPlace,
    interval_ms: u128,
}

pub fn live(snapshot: &Snapshot) -> Result<String, askama::Error> {
    let view = BrokersView::build(snapshot);
    BrokersLive {
        status: &view.status,
        view: &view,
    }
    .render()
}

pub async fn page(State(state): State<AppState>) -> Response {
    let view = BrokersView::build(&state.store.latest());
    let page = BrokersPage {
        status: &view.status,
        view: &view,
        place: &state.place,
        interval_ms: state.interval.as_millis(),
    };
    html_page("the brokers page", page.render())
}
