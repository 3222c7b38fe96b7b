//! The resolver: every fault over UDP and TCP, names and records as the VPC resolver answers.

use super::*;

pub(crate) fn query(name: &str, rtype: RecordType) -> Vec<u8> {
    let mut m = Message::query();
    m.metadata.recursion_desired = true;
    m.add_query(Query::query(Name::from_ascii(name).unwrap(), rtype));
    m.to_vec().unwrap()
}

pub(crate) async fn ask_udp(server: SocketAddr, name: &str, rtype: RecordType) -> Option<Message> {
    let sock = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    sock.send_to(&query(name, rtype), server).await.unwrap();
    let mut buf = vec![0u8; 4096];
    let n = timeout(Duration::from_millis(500), sock.recv(&mut buf))
        .await
        .ok()?
        .unwrap();
    Some(Message::from_vec(&buf[..n]).unwrap())
}

pub(crate) async fn ask_tcp(server: SocketAddr, name: &str, rtype: RecordType) -> Option<Message> {
    let mut s = TcpStream::connect(server).await.unwrap();
    let q = query(name, rtype);
    s.write_all(&(q.len() as u16).to_be_bytes()).await.unwrap();
    s.write_all(&q).await.unwrap();
    let len = timeout(Duration::from_millis(500), s.read_u16())
        .await
        .ok()?
        .unwrap();
    let mut buf = vec![0u8; len as usize];
    s.read_exact(&mut buf).await.unwrap();
    Some(Message::from_vec(&buf).unwrap())
}

pub(crate) fn a_records(m: &Message) -> Vec<IpAddr> {
    m.answers.iter().filter_map(|r| r.data.ip_addr()).collect()
}

#[tokio::test]
async fn dns_over_udp_and_tcp() {
    let lab = Lab::start(&scenario()).await.unwrap();
    let r = lab.resolver();
    let enis: Vec<IpAddr> = lab.eni_addrs().into_iter().map(|(_, ip)| ip).collect();
    assert_eq!(enis.len(), 2);
    for m in [
        ask_udp(r, API_HOST, RecordType::A).await.unwrap(),
        ask_tcp(r, API_HOST, RecordType::A).await.unwrap(),
        ask_udp(r, VPCE_HOST, RecordType::A).await.unwrap(),
        ask_tcp(
            r,
            "3eqr0osoc3-vpce-0a1b2c3d4e5f60001.execute-api.us-east-1.amazonaws.com",
            RecordType::A,
        )
        .await
        .unwrap(),
        ask_udp(
            r,
            "pgw-chain-nlb-0123456789abcdef.elb.us-east-1.amazonaws.com",
            RecordType::A,
        )
        .await
        .unwrap(),
    ] {
        assert_eq!(m.metadata.response_code, ResponseCode::NoError);
        assert_eq!(a_records(&m), enis);
        assert!(m.answers.iter().all(|a| a.ttl == 60));
    }
    let zonal =
        "vpce-0a1b2c3d4e5f60001-4kq2x7ab-us-east-1b.execute-api.us-east-1.vpce.amazonaws.com";
    assert_eq!(
        a_records(&ask_tcp(r, zonal, RecordType::A).await.unwrap()),
        [enis[1]]
    );
    let nodata = ask_udp(r, API_HOST, RecordType::AAAA).await.unwrap();
    assert_eq!(nodata.metadata.response_code, ResponseCode::NoError);
    assert!(nodata.answers.is_empty());
    let nx = ask_udp(
        r,
        "vpce-nope.execute-api.us-east-1.vpce.amazonaws.com",
        RecordType::A,
    )
    .await
    .unwrap();
    assert_eq!(nx.metadata.response_code, ResponseCode::NXDomain);
    assert_eq!(nx.authorities[0].record_type(), RecordType::SOA);
    let refused = ask_tcp(r, "example.com", RecordType::A).await.unwrap();
    assert_eq!(refused.metadata.response_code, ResponseCode::Refused);

    // Faults apply to the next query, on both transports.
    lab.set_faults(Faults {
        dns: DnsFault::Servfail,
        ..Faults::default()
    });
    let m = ask_tcp(r, API_HOST, RecordType::A).await.unwrap();
    assert_eq!(m.metadata.response_code, ResponseCode::ServFail);
    lab.set_faults(Faults {
        dns: DnsFault::Nxdomain,
        ..Faults::default()
    });
    let m = ask_udp(r, API_HOST, RecordType::A).await.unwrap();
    assert_eq!(m.metadata.response_code, ResponseCode::NXDomain);
    // The endpoint-specific names are public DNS and keep working.
    assert_eq!(
        a_records(&ask_udp(r, VPCE_HOST, RecordType::A).await.unwrap()),
        enis
    );
    lab.set_faults(Faults {
        dns: DnsFault::Timeout,
        ..Faults::default()
    });
    assert!(ask_udp(r, API_HOST, RecordType::A).await.is_none());
    assert!(ask_tcp(r, API_HOST, RecordType::A).await.is_none());
    lab.set_faults(Faults {
        dns: DnsFault::Public,
        ..Faults::default()
    });
    let public = a_records(&ask_udp(r, API_HOST, RecordType::A).await.unwrap());
    assert_eq!(public.len(), 1);
    assert!(!enis.contains(&public[0]));
    lab.set_faults(Faults {
        alias_associated: false,
        ..Faults::default()
    });
    let alias = "3eqr0osoc3-vpce-0a1b2c3d4e5f60001.execute-api.us-east-1.amazonaws.com";
    let m = ask_udp(r, alias, RecordType::A).await.unwrap();
    assert_eq!(m.metadata.response_code, ResponseCode::NXDomain);
    lab.shutdown().await;
}
