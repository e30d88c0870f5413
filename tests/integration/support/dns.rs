//! A real DNS server on loopback for one test: `hickory-server` in this process, UDP and TCP on
//! one free port, authoritative for the root zone from memory, so every name the test did not
//! publish is an authoritative NXDOMAIN. Tests publish and withdraw TXT records while it runs;
//! Portico queries it over the wire through `services::dns` (the production resolver code), with
//! `settings.dns.nameservers = vec![server.nameserver()]`.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use hickory_server::net::runtime::TokioRuntimeProvider;
use hickory_server::proto::rr::rdata::{SOA, TXT};
use hickory_server::proto::rr::{LowerName, Name, RData, Record, RecordType, RrKey};
use hickory_server::store::in_memory::InMemoryZoneHandler;
use hickory_server::zone_handler::{AxfrPolicy, Catalog, ZoneType};
use hickory_server::Server;

/// A running DNS server; it stops when dropped.
pub struct DnsServer {
    /// Where it listens (UDP and TCP).
    pub addr: SocketAddr,
    zone: Arc<InMemoryZoneHandler<TokioRuntimeProvider>>,
    _server: Server<Catalog>,
}

fn name(s: &str) -> Name {
    let fqdn = if s.ends_with('.') {
        s.to_owned()
    } else {
        format!("{s}.")
    };
    Name::from_ascii(&fqdn).expect("DNS name")
}

impl DnsServer {
    /// Starts a server with an empty root zone on 127.0.0.1.
    pub async fn start() -> Self {
        let zone = Arc::new(InMemoryZoneHandler::<TokioRuntimeProvider>::empty(
            Name::root(),
            ZoneType::Primary,
            AxfrPolicy::Deny,
        ));
        let soa = SOA::new(
            name("ns.portico.test"),
            name("hostmaster.portico.test"),
            1,
            60,
            60,
            600,
            0,
        );
        assert!(
            zone.upsert(Record::from_rdata(Name::root(), 60, RData::SOA(soa)), 1)
                .await
        );
        let mut catalog = Catalog::new();
        catalog.upsert(LowerName::from(Name::root()), vec![zone.clone()]);
        // The UDP port is chosen by the kernel; the same TCP port may already be taken by
        // another test's listener, so a collision picks a new pair instead of failing the test.
        let mut tries = 0;
        let (udp, tcp, addr) = loop {
            let udp = tokio::net::UdpSocket::bind("127.0.0.1:0").await.expect("bind udp");
            let addr = udp.local_addr().expect("addr");
            match tokio::net::TcpListener::bind(addr).await {
                Ok(tcp) => break (udp, tcp, addr),
                Err(_) if tries < 50 => tries += 1,
                Err(e) => panic!("bind tcp on the same port as udp {addr}: {e}"),
            }
        };
        let mut server = Server::new(catalog);
        server.register_socket(udp);
        server.register_listener(tcp, Duration::from_secs(5), 65_535);
        Self {
            addr,
            zone,
            _server: server,
        }
    }

    /// The `dns.nameservers` entry for this server.
    pub fn nameserver(&self) -> String {
        self.addr.to_string()
    }

    /// Replaces the TXT records at `owner` with one record per value.
    pub async fn set_txt(&self, owner: &str, values: &[&str]) {
        self.remove_txt(owner).await;
        for v in values {
            let r = Record::from_rdata(name(owner), 0, RData::TXT(TXT::new(vec![(*v).to_owned()])));
            assert!(self.zone.upsert(r, 1).await, "upsert TXT {owner}");
        }
    }

    /// Withdraws every TXT record at `owner`.
    pub async fn remove_txt(&self, owner: &str) {
        self.zone
            .records_mut()
            .await
            .remove(&RrKey::new(LowerName::from(name(owner)), RecordType::TXT));
    }
}

/// An address where no DNS server answers (a freed UDP port): lookups there fail.
pub fn dead_nameserver() -> String {
    let s = std::net::UdpSocket::bind("127.0.0.1:0").expect("bind");
    s.local_addr().expect("addr").to_string()
}
