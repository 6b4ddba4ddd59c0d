//! The SSRF corpus: every way we know to point a webhook at our own network, each refused with its
//! reason and recorded before any connection is opened, while canary listeners on the loopback
//! addresses involved prove that nothing connected.

#![allow(clippy::unwrap_used)] // tests: a failed unwrap is a failed test

use std::collections::HashMap;
use std::io::ErrorKind;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, TcpListener};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::future::BoxFuture;
use gluey_dispatcher::ssrf::{
    blocked_cause, check_ip, check_url, AddressPolicy, BlockEvent, BlockReason, BlockStage,
    Blocked, GuardedClient, NameResolver, SsrfGuard, SystemResolver, UrlRejected, VetError,
};
use prometheus::Registry;
use url::{Host, Url};
use warp::http::{header, Response, StatusCode};
use warp::Filter;

/// Long enough never to fire on a refused attempt (those fail before connecting); it only bounds
/// a request that wrongly reached a canary, which accepts the connection but never answers.
const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(10);

const PUBLIC_V4: Ipv4Addr = Ipv4Addr::new(93, 184, 216, 34);
const PUBLIC_V6: Ipv6Addr = Ipv6Addr::new(0x2606, 0x2800, 0, 0, 0, 0, 0, 1);

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

/// Stands in for DNS, an external service: answers the test chooses, in order per name (the last
/// answer repeats), and a count of lookups per name.
#[derive(Default)]
struct TestDns {
    answers: HashMap<String, Vec<Vec<IpAddr>>>,
    lookups: Mutex<HashMap<String, usize>>,
}

impl TestDns {
    fn answer(mut self, name: &str, answers: &[&[&str]]) -> TestDns {
        let answers = answers
            .iter()
            .map(|addrs| addrs.iter().map(|a| ip(a)).collect())
            .collect();
        self.answers.insert(name.to_string(), answers);
        self
    }

    fn lookups(&self, name: &str) -> usize {
        self.lookups.lock().unwrap().get(name).copied().unwrap_or(0)
    }
}

impl NameResolver for TestDns {
    fn lookup(&self, host: &str) -> BoxFuture<'static, std::io::Result<Vec<IpAddr>>> {
        let mut lookups = self.lookups.lock().unwrap();
        let n = lookups.entry(host.to_string()).or_insert(0);
        let answer = self.answers.get(host).map(|answers| {
            let i = (*n).min(answers.len() - 1);
            answers[i].clone()
        });
        *n += 1;
        Box::pin(async move {
            answer.ok_or_else(|| std::io::Error::new(ErrorKind::NotFound, "no such name"))
        })
    }
}

/// Real listeners on the loopback addresses the corpus aims at, all on one port, never accepting
/// on their own: a connection that reached one waits in its accept queue until `connections`.
struct Canaries {
    port: u16,
    listeners: Vec<TcpListener>,
}

impl Canaries {
    const ADDRS: [IpAddr; 4] = [
        IpAddr::V4(Ipv4Addr::new(127, 0, 0, 1)),
        IpAddr::V4(Ipv4Addr::new(127, 0, 0, 2)),
        IpAddr::V4(Ipv4Addr::new(127, 0, 0, 3)),
        IpAddr::V6(Ipv6Addr::LOCALHOST),
    ];

    fn bind() -> Canaries {
        // The first bind picks a free port; another process may hold it on one of the other
        // addresses, in which case pick again.
        for _ in 0..20 {
            let first = TcpListener::bind((Self::ADDRS[0], 0)).unwrap();
            let port = first.local_addr().unwrap().port();
            let rest: Result<Vec<_>, _> = Self::ADDRS[1..]
                .iter()
                .map(|addr| TcpListener::bind((*addr, port)))
                .collect();
            if let Ok(rest) = rest {
                let listeners: Vec<_> = std::iter::once(first).chain(rest).collect();
                for l in &listeners {
                    l.set_nonblocking(true).unwrap();
                }
                return Canaries { port, listeners };
            }
        }
        panic!("no port free on every canary address");
    }

    /// Connections that reached any canary so far (drains the accept queues).
    fn connections(&self) -> Vec<SocketAddr> {
        let mut got = Vec::new();
        for listener in &self.listeners {
            loop {
                match listener.accept() {
                    Ok(_) => got.push(listener.local_addr().unwrap()),
                    Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                    Err(e) => panic!("canary accept: {e}"),
                }
            }
        }
        got
    }
}

type Events = Arc<Mutex<Vec<BlockEvent>>>;

fn new_guard(policy: AddressPolicy, dns: Arc<TestDns>, registry: &Registry) -> (SsrfGuard, Events) {
    let events: Events = Arc::default();
    let sink = events.clone();
    let guard = SsrfGuard::new(policy, dns, registry)
        .unwrap()
        .on_block(move |event| sink.lock().unwrap().push(event.clone()));
    (guard, events)
}

fn guarded_client(guard: &SsrfGuard) -> GuardedClient {
    GuardedClient::new(guard.clone(), "gluey-webhooks/test", ATTEMPT_TIMEOUT).unwrap()
}

/// How a corpus URL reaches its address.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Via {
    /// A literal address (any spelling): refused when the request is built.
    Literal,
    /// A name the test resolver answers: allowed in the URL, refused on resolution.
    Name,
    /// A name that resolves to a public address at configuration time and to loopback after.
    Rebinding,
}

struct Case {
    url: &'static str,
    via: Via,
    reason: BlockReason,
    /// The refused address as recorded.
    addr: &'static str,
}

const fn case(url: &'static str, via: Via, reason: BlockReason, addr: &'static str) -> Case {
    Case {
        url,
        via,
        reason,
        addr,
    }
}

use BlockReason::*;
use Via::{Literal, Name, Rebinding};

/// `{port}` is the canaries' port. One line per case, columns aligned: kept out of rustfmt.
#[rustfmt::skip]
const CORPUS: &[Case] = &[
    // IPv4 loopback, every spelling the URL parser turns into 127.0.0.1.
    case("http://127.0.0.1:{port}/hook",                          Literal,   Loopback,       "127.0.0.1"),
    case("http://127.1:{port}/hook",                              Literal,   Loopback,       "127.0.0.1"),
    case("http://2130706433:{port}/hook",                         Literal,   Loopback,       "127.0.0.1"),
    case("http://0x7f000001:{port}/hook",                         Literal,   Loopback,       "127.0.0.1"),
    case("http://0x7f.1:{port}/hook",                             Literal,   Loopback,       "127.0.0.1"),
    case("http://0177.0.0.1:{port}/hook",                         Literal,   Loopback,       "127.0.0.1"),
    case("http://017700000001:{port}/hook",                       Literal,   Loopback,       "127.0.0.1"),
    case("http://127.0.0.1.:{port}/hook",                         Literal,   Loopback,       "127.0.0.1"),
    case("https://127.0.0.2:{port}/hook",                         Literal,   Loopback,       "127.0.0.2"),
    // "This network": connecting to 0.0.0.0 reaches the local host.
    case("http://0.0.0.0:{port}/hook",                            Literal,   Unspecified,    "0.0.0.0"),
    case("http://0:{port}/hook",                                  Literal,   Unspecified,    "0.0.0.0"),
    // Private, link-local, metadata, CGNAT and the special-purpose IPv4 blocks.
    case("http://10.0.0.1/hook",                                  Literal,   Private,        "10.0.0.1"),
    case("http://012.1.2.3/hook",                                 Literal,   Private,        "10.1.2.3"),
    case("http://172.16.0.1/hook",                                Literal,   Private,        "172.16.0.1"),
    case("http://172.31.255.254/hook",                            Literal,   Private,        "172.31.255.254"),
    case("http://192.168.1.1/hook",                               Literal,   Private,        "192.168.1.1"),
    case("http://0xc0a80101/hook",                                Literal,   Private,        "192.168.1.1"),
    case("http://169.254.169.254/latest/meta-data/",              Literal,   CloudMetadata,  "169.254.169.254"),
    case("http://2852039166/latest/meta-data/",                   Literal,   CloudMetadata,  "169.254.169.254"),
    case("http://0xa9.0xfe.0xa9.0xfe/",                           Literal,   CloudMetadata,  "169.254.169.254"),
    case("http://0251.0376.0251.0376/",                           Literal,   CloudMetadata,  "169.254.169.254"),
    case("http://169.254.170.2/v2/credentials",                   Literal,   CloudMetadata,  "169.254.170.2"),
    case("http://100.100.100.200/latest/meta-data/",              Literal,   CloudMetadata,  "100.100.100.200"),
    case("http://169.254.1.1/hook",                               Literal,   LinkLocal,      "169.254.1.1"),
    case("http://100.64.0.1/hook",                                Literal,   Cgnat,          "100.64.0.1"),
    case("http://192.0.0.8/hook",                                 Literal,   IetfProtocol,   "192.0.0.8"),
    case("http://192.0.2.1/hook",                                 Literal,   Documentation,  "192.0.2.1"),
    case("http://198.51.100.7/hook",                              Literal,   Documentation,  "198.51.100.7"),
    case("http://203.0.113.9/hook",                               Literal,   Documentation,  "203.0.113.9"),
    case("http://198.18.0.1/hook",                                Literal,   Benchmarking,   "198.18.0.1"),
    case("http://224.0.0.1/hook",                                 Literal,   Multicast,      "224.0.0.1"),
    case("http://239.255.255.250/hook",                           Literal,   Multicast,      "239.255.255.250"),
    case("http://240.0.0.1/hook",                                 Literal,   Reserved,       "240.0.0.1"),
    case("http://255.255.255.255/hook",                           Literal,   Broadcast,      "255.255.255.255"),
    // IPv6, bracketed, in short, long and embedded-IPv4 spellings.
    case("http://[::1]:{port}/hook",                              Literal,   Loopback,       "::1"),
    case("http://[0:0:0:0:0:0:0:1]:{port}/hook",                  Literal,   Loopback,       "::1"),
    case("http://[::]:{port}/hook",                               Literal,   Unspecified,    "::"),
    case("http://[::ffff:127.0.0.1]:{port}/hook",                 Literal,   Loopback,       "::ffff:127.0.0.1"),
    case("http://[::ffff:7f00:1]:{port}/hook",                    Literal,   Loopback,       "::ffff:127.0.0.1"),
    case("http://[::ffff:169.254.169.254]/",                      Literal,   CloudMetadata,  "::ffff:169.254.169.254"),
    case("http://[::ffff:93.184.216.34]/hook",                    Literal,   Ipv4Mapped,     "::ffff:93.184.216.34"),
    case("http://[::127.0.0.1]:{port}/hook",                      Literal,   Loopback,       "::127.0.0.1"),
    case("http://[::93.184.216.34]/hook",                         Literal,   Ipv4Compatible, "::93.184.216.34"),
    case("http://[64:ff9b::169.254.169.254]/",                    Literal,   CloudMetadata,  "64:ff9b::a9fe:a9fe"),
    case("http://[2002:a00:1::1]/hook",                           Literal,   Private,        "2002:a00:1::1"),
    case("http://[2001:0:4136:e378:8000:63bf:3fff:fdd2]/",        Literal,   Teredo,         "2001:0:4136:e378:8000:63bf:3fff:fdd2"),
    case("http://[fe80::1]/hook",                                 Literal,   LinkLocal,      "fe80::1"),
    case("http://[fc00::1]/hook",                                 Literal,   Private,        "fc00::1"),
    case("http://[fd00:ec2::254]/latest/meta-data/",              Literal,   CloudMetadata,  "fd00:ec2::254"),
    case("http://[fec0::1]/hook",                                 Literal,   Private,        "fec0::1"),
    case("http://[ff02::1]/hook",                                 Literal,   Multicast,      "ff02::1"),
    case("http://[2001:db8::1]/hook",                             Literal,   Documentation,  "2001:db8::1"),
    // Names: the URL passes, the resolved addresses do not.
    case("http://loopback.customer.test:{port}/hook",             Name,      Loopback,       "127.0.0.1"),
    case("https://loopback.customer.test:{port}/hook",            Name,      Loopback,       "127.0.0.1"),
    case("http://loopback6.customer.test:{port}/hook",            Name,      Loopback,       "::1"),
    case("http://mixed.customer.test:{port}/hook",                Name,      Loopback,       "127.0.0.2"),
    case("http://mixed6.customer.test/hook",                      Name,      CloudMetadata,  "fd00:ec2::254"),
    case("http://mapped.customer.test:{port}/hook",               Name,      Loopback,       "::ffff:127.0.0.1"),
    case("http://zero.customer.test:{port}/hook",                 Name,      Unspecified,    "0.0.0.0"),
    case("http://metadata.customer.test/latest/meta-data/",       Name,      CloudMetadata,  "169.254.169.254"),
    case("http://private.customer.test/hook",                     Name,      Private,        "10.1.2.3"),
    case("http://cgnat.customer.test/hook",                       Name,      Cgnat,          "100.64.1.1"),
    case("http://ula.customer.test/hook",                         Name,      Private,        "fd12:3456::1"),
    case("http://nat64.customer.test/",                           Name,      CloudMetadata,  "64:ff9b::a9fe:a9fe"),
    // DNS rebinding: public when configured, loopback when the request resolves it.
    case("http://rebind.customer.test:{port}/hook",               Rebinding, Loopback,       "127.0.0.3"),
];

fn corpus_dns() -> TestDns {
    TestDns::default()
        .answer("loopback.customer.test", &[&["127.0.0.1"]])
        .answer("loopback6.customer.test", &[&["::1"]])
        .answer("mixed.customer.test", &[&["93.184.216.34", "127.0.0.2"]])
        .answer(
            "mixed6.customer.test",
            &[&["2606:2800::1", "fd00:ec2::254"]],
        )
        .answer("mapped.customer.test", &[&["::ffff:127.0.0.1"]])
        .answer("zero.customer.test", &[&["0.0.0.0"]])
        .answer("metadata.customer.test", &[&["169.254.169.254"]])
        .answer("private.customer.test", &[&["10.1.2.3"]])
        .answer("cgnat.customer.test", &[&["100.64.1.1"]])
        .answer("ula.customer.test", &[&["fd12:3456::1"]])
        .answer("nat64.customer.test", &[&["64:ff9b::a9fe:a9fe"]])
        .answer(
            "rebind.customer.test",
            &[&["93.184.216.34"], &["127.0.0.3"]],
        )
}

/// Tries one request and returns what refused it, if anything did.
async fn attempt(client: &GuardedClient, url: &Url) -> Result<Blocked, String> {
    let request = match client.post(url) {
        Ok(request) => request,
        Err(rejected) => {
            return rejected
                .blocked()
                .copied()
                .ok_or_else(|| format!("rejected for another reason: {rejected}"))
        }
    };
    match request.body("{}").send().await {
        Ok(response) => Err(format!("delivered, answer {}", response.status())),
        Err(e) => blocked_cause(&e)
            .copied()
            .ok_or_else(|| format!("failed without a refusal: {e:?}")),
    }
}

#[tokio::test]
async fn ssrf_corpus_is_refused_before_any_connection() {
    assert!(CORPUS.len() >= 30, "the corpus has {} cases", CORPUS.len());
    let canaries = Canaries::bind();
    let port = canaries.port.to_string();
    // The canaries see a connection to any of the addresses the corpus aims at, including the
    // spellings that end up on them (mapped IPv6 and 0.0.0.0 both reach the loopback listener).
    let reachable: Vec<IpAddr> = Canaries::ADDRS
        .into_iter()
        .chain([ip("::ffff:127.0.0.1"), ip("0.0.0.0")])
        .collect();
    for addr in &reachable {
        std::net::TcpStream::connect((*addr, canaries.port)).unwrap();
    }
    assert_eq!(canaries.connections().len(), reachable.len());
    let dns = Arc::new(corpus_dns());
    let registry = Registry::new();
    let (guard, events) = new_guard(AddressPolicy::default(), dns.clone(), &registry);
    let client = guarded_client(&guard);
    let mut expected_metric: HashMap<&str, u64> = HashMap::new();

    for case in CORPUS {
        let url = Url::parse(&case.url.replace("{port}", &port)).unwrap();
        let name = url.host_str().unwrap().to_string();

        // Configuration time: literal addresses are refused, names pass.
        let config = check_url(&url, &guard.policy());
        match case.via {
            Literal => assert_eq!(
                config.as_ref().map_err(|r| r.blocked().map(|b| b.reason)),
                Err(Some(case.reason)),
                "{}: configuration check",
                case.url
            ),
            Name | Rebinding => assert_eq!(config, Ok(()), "{}: configuration check", case.url),
        }
        if case.via == Rebinding {
            let vetted = guard.vet(&url).await.unwrap();
            assert_eq!(vetted, vec![IpAddr::V4(PUBLIC_V4)], "{}", case.url);
        }

        let before = events.lock().unwrap().len();
        let blocked = attempt(&client, &url).await;
        assert_eq!(
            blocked,
            Ok(Blocked {
                reason: case.reason,
                addr: ip(case.addr)
            }),
            "{}",
            case.url
        );
        // Recorded once, at the stage that stopped it, and nothing reached a canary.
        let recorded: Vec<_> = events.lock().unwrap()[before..].to_vec();
        let stage = match case.via {
            Literal => BlockStage::Request,
            Name | Rebinding => BlockStage::Resolution,
        };
        assert_eq!(
            recorded,
            vec![BlockEvent {
                stage,
                host: name.clone(),
                blocked: blocked.clone().unwrap(),
            }],
            "{}",
            case.url
        );
        assert_eq!(canaries.connections(), vec![], "{}", case.url);
        let lookups = match case.via {
            Literal => 0,
            Name => 1,
            Rebinding => 2,
        };
        assert_eq!(dns.lookups(&name), lookups, "{}: lookups", case.url);
        if case.via != Literal {
            // The next case reuses the name with another scheme: count from zero again.
            dns.lookups.lock().unwrap().remove(&name);
        }
        *expected_metric.entry(case.reason.label()).or_default() += 1;
    }

    // A customer endpoint on loopback (allowed for this case only) redirecting to the metadata
    // service: the 302 comes back as the answer and the redirect is never followed.
    let redirect_dns =
        Arc::new(TestDns::default().answer("metadata.customer.test", &[&["169.254.169.254"]]));
    let named_target = format!("http://metadata.customer.test:{port}/latest/meta-data/");
    let endpoint = redirecting_endpoint(named_target.clone()).await;
    let (loopback_guard, redirect_events) = new_guard(
        AddressPolicy {
            require_https: false,
            allow_loopback: true,
        },
        redirect_dns.clone(),
        &Registry::new(),
    );
    let loopback_client = guarded_client(&loopback_guard);
    let literal = Url::parse(&format!("http://{endpoint}/literal")).unwrap();
    let response = loopback_client
        .post(&literal)
        .unwrap()
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::FOUND);
    assert_eq!(
        response.headers()[header::LOCATION],
        "http://169.254.169.254/latest/meta-data/"
    );
    assert_eq!(
        *redirect_events.lock().unwrap(),
        vec![BlockEvent {
            stage: BlockStage::Redirect,
            host: "169.254.169.254".into(),
            blocked: Blocked {
                reason: CloudMetadata,
                addr: ip("169.254.169.254")
            },
        }]
    );
    let named = Url::parse(&format!("http://{endpoint}/named")).unwrap();
    let response = loopback_client.post(&named).unwrap().send().await.unwrap();
    assert_eq!(response.status(), StatusCode::FOUND);
    assert_eq!(response.headers()[header::LOCATION], named_target.as_str());
    assert_eq!(
        redirect_dns.lookups("metadata.customer.test"),
        0,
        "the redirect was followed"
    );

    // After everything: no canary ever saw a connection, and the metric counted every refusal.
    assert_eq!(canaries.connections(), vec![]);
    assert_eq!(guard.blocked_total(), CORPUS.len() as u64);
    assert_eq!(blocked_metric(&registry), expected_metric);
}

/// A customer endpoint that answers 302 to the metadata service: `/literal` by address,
/// `/named` by a name.
async fn redirecting_endpoint(named_target: String) -> SocketAddr {
    let literal = warp::path("literal").map(|| {
        Response::builder()
            .status(StatusCode::FOUND)
            .header(header::LOCATION, "http://169.254.169.254/latest/meta-data/")
            .body(String::new())
            .unwrap()
    });
    let named = warp::path("named").map(move || {
        Response::builder()
            .status(StatusCode::FOUND)
            .header(header::LOCATION, named_target.as_str())
            .body(String::new())
            .unwrap()
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(warp::serve(literal.or(named)).incoming(listener).run());
    addr
}

fn blocked_metric(registry: &Registry) -> HashMap<&'static str, u64> {
    let mut out = HashMap::new();
    for family in registry.gather() {
        if family.name() != "dispatcher_ssrf_blocked_total" {
            continue;
        }
        for metric in family.get_metric() {
            let label = metric.get_label()[0].value();
            let reason = BlockReason::ALL
                .iter()
                .find(|r| r.label() == label)
                .unwrap_or_else(|| panic!("unknown reason label {label}"));
            out.insert(reason.label(), metric.get_counter().get_value() as u64);
        }
    }
    out
}

#[test]
fn the_url_parser_canonicalises_ipv4_spellings() {
    for spelling in [
        "127.0.0.1",
        "127.1",
        "127.0.1",
        "2130706433",
        "0x7f000001",
        "0x7f.1",
        "0x7F.0.0.1",
        "0177.0.0.1",
        "0177.1",
        "017700000001",
        "127.0.0.1.",
    ] {
        let url = Url::parse(&format!("http://{spelling}/")).unwrap();
        assert_eq!(
            url.host(),
            Some(Host::Ipv4(Ipv4Addr::LOCALHOST)),
            "{spelling}"
        );
        assert_eq!(url.host_str(), Some("127.0.0.1"), "{spelling}");
    }
    // Not an address in any spelling: the parser refuses rather than passing it on as a name
    // that a system resolver could read as one.
    for bad in ["127.0.0.1.1", "0x7f.0.0.0.1", "4294967296", "0x100000000"] {
        assert!(Url::parse(&format!("http://{bad}/")).is_err(), "{bad}");
    }
}

#[test]
fn public_addresses_pass_and_loopback_is_only_allowed_when_asked() {
    let strict = AddressPolicy::default();
    for public in [
        IpAddr::V4(PUBLIC_V4),
        IpAddr::V6(PUBLIC_V6),
        ip("8.8.8.8"),
        ip("64:ff9b::5db8:d822"),
        ip("2002:5db8:d822::1"),
    ] {
        assert_eq!(check_ip(public, &strict), Ok(()), "{public}");
    }
    assert_eq!(
        check_ip(ip("127.0.0.1"), &strict).map_err(|b| b.reason),
        Err(Loopback)
    );

    let loopback = AddressPolicy {
        require_https: false,
        allow_loopback: true,
    };
    assert_eq!(check_ip(ip("127.0.0.1"), &loopback), Ok(()));
    assert_eq!(check_ip(ip("127.8.9.10"), &loopback), Ok(()));
    assert_eq!(check_ip(ip("::1"), &loopback), Ok(()));
    for (addr, reason) in [
        ("10.0.0.1", Private),
        ("169.254.169.254", CloudMetadata),
        ("169.254.1.1", LinkLocal),
        ("0.0.0.0", Unspecified),
        ("::ffff:127.0.0.1", Loopback),
        ("64:ff9b::7f00:1", Loopback),
        ("fd00:ec2::254", CloudMetadata),
    ] {
        assert_eq!(
            check_ip(ip(addr), &loopback),
            Err(Blocked {
                reason,
                addr: ip(addr)
            }),
            "{addr}"
        );
    }
}

#[test]
fn urls_are_refused_for_scheme_userinfo_and_plain_http_when_https_is_required() {
    let strict = AddressPolicy::default();
    let https = AddressPolicy {
        require_https: true,
        allow_loopback: false,
    };
    let url = |s: &str| Url::parse(s).unwrap();
    assert_eq!(
        check_url(&url("https://hooks.example.com/x"), &https),
        Ok(())
    );
    assert_eq!(
        check_url(&url("http://hooks.example.com/x"), &strict),
        Ok(())
    );
    assert_eq!(check_url(&url("http://93.184.216.34/x"), &strict), Ok(()));
    assert_eq!(check_url(&url("http://[2606:2800::1]/x"), &strict), Ok(()));
    assert_eq!(
        check_url(&url("http://hooks.example.com/x"), &https),
        Err(UrlRejected::HttpsRequired)
    );
    assert_eq!(
        check_url(&url("ftp://hooks.example.com/x"), &strict),
        Err(UrlRejected::Scheme("ftp".into()))
    );
    assert_eq!(
        check_url(&url("file:///etc/passwd"), &strict),
        Err(UrlRejected::Scheme("file".into()))
    );
    assert_eq!(
        check_url(&url("https://user:pw@hooks.example.com/x"), &https),
        Err(UrlRejected::Userinfo)
    );
    assert_eq!(
        check_url(&url("https://user@hooks.example.com/x"), &https),
        Err(UrlRejected::Userinfo)
    );
    // The userinfo trick: the host is what follows the `@`.
    assert_eq!(
        check_url(&url("https://hooks.example.com@127.0.0.1/x"), &https),
        Err(UrlRejected::Userinfo)
    );
}

#[tokio::test]
async fn vet_refuses_at_configuration_and_names_unresolvable_hosts() {
    let dns = Arc::new(
        TestDns::default()
            .answer("hooks.customer.test", &[&["93.184.216.34", "2606:2800::1"]])
            .answer("metadata.customer.test", &[&["169.254.169.254"]]),
    );
    let registry = Registry::new();
    let (guard, events) = new_guard(AddressPolicy::default(), dns, &registry);
    let url = |s: &str| Url::parse(s).unwrap();

    let vetted = guard
        .vet(&url("https://hooks.customer.test/x"))
        .await
        .unwrap();
    assert_eq!(vetted, vec![IpAddr::V4(PUBLIC_V4), IpAddr::V6(PUBLIC_V6)]);

    let refused = guard.vet(&url("https://metadata.customer.test/x")).await;
    assert!(
        matches!(refused, Err(VetError::Rejected(UrlRejected::Blocked(b))) if b.reason == CloudMetadata),
        "{refused:?}"
    );
    let refused = guard.vet(&url("https://10.0.0.1/x")).await;
    assert!(
        matches!(refused, Err(VetError::Rejected(UrlRejected::Blocked(b))) if b.reason == Private),
        "{refused:?}"
    );
    let unknown = guard.vet(&url("https://nowhere.customer.test/x")).await;
    assert!(
        matches!(&unknown, Err(VetError::Resolve { host, .. }) if host == "nowhere.customer.test"),
        "{unknown:?}"
    );

    let stages: Vec<_> = events
        .lock()
        .unwrap()
        .iter()
        .map(|e| (e.stage, e.host.clone(), e.blocked.reason))
        .collect();
    assert_eq!(
        stages,
        vec![
            (
                BlockStage::Config,
                "metadata.customer.test".to_string(),
                CloudMetadata
            ),
            (BlockStage::Config, "10.0.0.1".to_string(), Private),
        ]
    );
    assert_eq!(guard.blocked_total(), 2);
}

#[tokio::test]
async fn an_allowed_name_is_delivered_through_the_guarded_client() {
    // With loopback allowed, a name resolving to loopback reaches a real endpoint: the guard
    // passes allowed addresses on, with the URL's port, rather than refusing everything.
    let dns = Arc::new(TestDns::default().answer("hooks.customer.test", &[&["127.0.0.1"]]));
    let (guard, events) = new_guard(
        AddressPolicy {
            require_https: false,
            allow_loopback: true,
        },
        dns.clone(),
        &Registry::new(),
    );
    let route = warp::post().map(|| StatusCode::NO_CONTENT);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(warp::serve(route).incoming(listener).run());

    let url = Url::parse(&format!("http://hooks.customer.test:{port}/hook")).unwrap();
    let response = guarded_client(&guard)
        .post(&url)
        .unwrap()
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    assert_eq!(dns.lookups("hooks.customer.test"), 1);
    assert!(events.lock().unwrap().is_empty());
}

#[tokio::test]
async fn the_system_resolver_is_checked_too() {
    let canary = TcpListener::bind("127.0.0.1:0").unwrap();
    canary.set_nonblocking(true).unwrap();
    let port = canary.local_addr().unwrap().port();
    let registry = Registry::new();
    let guard = SsrfGuard::new(
        AddressPolicy::default(),
        Arc::new(SystemResolver),
        &registry,
    )
    .unwrap();

    let url = Url::parse(&format!("http://localhost:{port}/hook")).unwrap();
    let blocked = attempt(&guarded_client(&guard), &url).await.unwrap();
    assert_eq!(blocked.reason, Loopback);
    assert_eq!(guard.blocked_total(), 1);
    assert_eq!(
        canary.accept().map_err(|e| e.kind()).err(),
        Some(ErrorKind::WouldBlock)
    );
}

#[test]
fn the_webhook_docs_name_every_reason() {
    let docs = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/webhooks/README.md"),
    )
    .unwrap();
    assert!(docs.contains("dispatcher_ssrf_blocked_total{reason}"));
    for reason in BlockReason::ALL {
        assert!(
            docs.contains(&format!("`{}`", reason.label())),
            "docs/webhooks/README.md does not name {}",
            reason.label()
        );
    }
}
