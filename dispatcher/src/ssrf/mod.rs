//! Server-side request forgery guard for outgoing customer webhooks. A customer chooses the URL we
//! POST to, so without a guard they could make us reach our own network: loopback services, the
//! cloud metadata endpoint, private ranges.
//!
//! The invariant: no connection is opened to an address [`check_ip`] refuses. URLs are checked
//! when configured ([`check_url`], [`SsrfGuard::vet`]) and again before every request; names are
//! allowed in the URL because the decisive check is made on the addresses they resolve to, by the
//! client's resolver, after resolution and before connecting, so a name that changes its answer
//! (DNS rebinding) is caught on the lookup that would be used. Redirects are never followed.
//! Every refusal is counted in `dispatcher_ssrf_blocked_total{reason}`, logged, and handed to an
//! optional observer.

mod ranges;

use std::fmt;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use futures::future::BoxFuture;
use prometheus::{IntCounterVec, Opts, Registry};
use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use reqwest::redirect::Policy;
use url::{Host, Url};

pub use ranges::check_ip;

/// Which destinations outgoing webhooks may reach.
///
/// Deliberately not `Deserialize`: `allow_loopback` exists for tests and local development (a
/// customer endpoint on 127.0.0.1) and must come from an explicit command-line switch, never from
/// the config file, so that a production config cannot turn it on by accident.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct AddressPolicy {
    /// Refuse `http://` URLs.
    pub require_https: bool,
    /// Let 127.0.0.0/8 and ::1 through, and nothing else (private, link-local, metadata and
    /// loopback wrapped in IPv6 stay refused).
    pub allow_loopback: bool,
}

/// Why an address is refused. [`BlockReason::label`] is stable and used as a metric label.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum BlockReason {
    /// 127.0.0.0/8, ::1.
    Loopback,
    /// 0.0.0.0/8 ("this network"), ::.
    Unspecified,
    /// 10/8, 172.16/12, 192.168/16, fc00::/7, fec0::/10, 64:ff9b:1::/48.
    Private,
    /// 169.254/16, fe80::/10.
    LinkLocal,
    /// Instance metadata services (169.254.169.254, 169.254.170.2, 169.254.170.23,
    /// 100.100.100.200, fd00:ec2::254, fd00:ec2::23).
    CloudMetadata,
    /// 100.64/10, carrier-grade NAT shared address space.
    Cgnat,
    /// 192.0.0/24, 2001::/23 (apart from Teredo and benchmarking).
    IetfProtocol,
    /// 192.0.2/24, 198.51.100/24, 203.0.113/24, 2001:db8::/32, 3fff::/20.
    Documentation,
    /// 198.18/15, 2001:2::/48.
    Benchmarking,
    /// 224/4, ff00::/8.
    Multicast,
    /// 255.255.255.255.
    Broadcast,
    /// 240/4, 192.88.99/24, 100::/64, and IPv6 outside 2000::/3.
    Reserved,
    /// ::ffff:a.b.c.d carrying a public address (one carrying a refused address gets that
    /// address's reason).
    Ipv4Mapped,
    /// ::a.b.c.d carrying a public address.
    Ipv4Compatible,
    /// 2001::/32.
    Teredo,
}

impl BlockReason {
    pub const ALL: [BlockReason; 15] = [
        BlockReason::Loopback,
        BlockReason::Unspecified,
        BlockReason::Private,
        BlockReason::LinkLocal,
        BlockReason::CloudMetadata,
        BlockReason::Cgnat,
        BlockReason::IetfProtocol,
        BlockReason::Documentation,
        BlockReason::Benchmarking,
        BlockReason::Multicast,
        BlockReason::Broadcast,
        BlockReason::Reserved,
        BlockReason::Ipv4Mapped,
        BlockReason::Ipv4Compatible,
        BlockReason::Teredo,
    ];

    pub fn label(self) -> &'static str {
        match self {
            BlockReason::Loopback => "loopback",
            BlockReason::Unspecified => "unspecified",
            BlockReason::Private => "private",
            BlockReason::LinkLocal => "link_local",
            BlockReason::CloudMetadata => "cloud_metadata",
            BlockReason::Cgnat => "cgnat",
            BlockReason::IetfProtocol => "ietf_protocol",
            BlockReason::Documentation => "documentation",
            BlockReason::Benchmarking => "benchmarking",
            BlockReason::Multicast => "multicast",
            BlockReason::Broadcast => "broadcast",
            BlockReason::Reserved => "reserved",
            BlockReason::Ipv4Mapped => "ipv4_mapped",
            BlockReason::Ipv4Compatible => "ipv4_compatible",
            BlockReason::Teredo => "teredo",
        }
    }
}

impl fmt::Display for BlockReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.label())
    }
}

/// An address a webhook may not reach.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("address {addr} is not a permitted webhook destination ({reason})")]
pub struct Blocked {
    pub reason: BlockReason,
    pub addr: IpAddr,
}

/// A webhook URL refused before any lookup.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UrlRejected {
    #[error("scheme must be http or https, got {0}")]
    Scheme(String),
    #[error("https is required, got http")]
    HttpsRequired,
    #[error("url must not carry a user name or password")]
    Userinfo,
    #[error("url has no host")]
    NoHost,
    #[error(transparent)]
    Blocked(#[from] Blocked),
}

impl UrlRejected {
    /// The refused address, when the host is a literal one.
    pub fn blocked(&self) -> Option<&Blocked> {
        match self {
            UrlRejected::Blocked(blocked) => Some(blocked),
            _ => None,
        }
    }
}

/// Checks a webhook URL without resolving it: scheme, https when required, no userinfo, and a
/// literal IP host against [`check_ip`]. The `url` crate has already turned every IPv4 spelling
/// (`0x7f.1`, `2130706433`, `0177.0.0.1`, `127.1`) into its canonical address, so the literal
/// check sees the address a connection would use. Names pass here; they are checked on resolution.
pub fn check_url(url: &Url, policy: &AddressPolicy) -> Result<(), UrlRejected> {
    match url.scheme() {
        "https" => {}
        "http" if policy.require_https => return Err(UrlRejected::HttpsRequired),
        "http" => {}
        other => return Err(UrlRejected::Scheme(other.to_string())),
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(UrlRejected::Userinfo);
    }
    match url.host() {
        None => Err(UrlRejected::NoHost),
        Some(Host::Domain(_)) => Ok(()),
        Some(Host::Ipv4(v4)) => Ok(check_ip(IpAddr::V4(v4), policy)?),
        Some(Host::Ipv6(v6)) => Ok(check_ip(IpAddr::V6(v6), policy)?),
    }
}

/// Turns a host name into addresses. The default is the system resolver; tests plug in their own.
pub trait NameResolver: Send + Sync {
    fn lookup(&self, host: &str) -> BoxFuture<'static, io::Result<Vec<IpAddr>>>;
}

/// The operating system's resolver (getaddrinfo, via tokio).
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemResolver;

impl NameResolver for SystemResolver {
    fn lookup(&self, host: &str) -> BoxFuture<'static, io::Result<Vec<IpAddr>>> {
        let host = host.to_string();
        Box::pin(async move {
            let addrs = tokio::net::lookup_host((host.as_str(), 0)).await?;
            Ok(addrs.map(|addr| addr.ip()).collect())
        })
    }
}

/// Where a refusal happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BlockStage {
    /// [`SsrfGuard::vet`], when the endpoint is configured.
    Config,
    /// The literal host of a request's URL, before it is sent.
    Request,
    /// The addresses a name resolved to, before connecting.
    Resolution,
    /// The `Location` of a redirect (which is never followed anyway).
    Redirect,
}

impl BlockStage {
    pub fn label(self) -> &'static str {
        match self {
            BlockStage::Config => "config",
            BlockStage::Request => "request",
            BlockStage::Resolution => "resolution",
            BlockStage::Redirect => "redirect",
        }
    }
}

/// One refusal, as handed to the observer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlockEvent {
    pub stage: BlockStage,
    /// The host as the URL writes it: a name, or a canonical literal address (IPv6 in brackets).
    pub host: String,
    pub blocked: Blocked,
}

/// Called on every refusal, before the request fails.
pub type BlockObserver = Arc<dyn Fn(&BlockEvent) + Send + Sync>;

/// Failure of [`SsrfGuard::vet`].
#[derive(Debug, thiserror::Error)]
pub enum VetError {
    #[error(transparent)]
    Rejected(#[from] UrlRejected),
    /// The name did not resolve: not a verdict on the URL, the caller decides whether that matters
    /// at configuration time.
    #[error("resolving {host}: {source}")]
    Resolve { host: String, source: io::Error },
}

/// The policy, the name resolver and the record of refusals, shared by every request of a
/// dispatcher. Also the resolver given to the HTTP client (see [`GuardedClient`]).
#[derive(Clone)]
pub struct SsrfGuard {
    policy: AddressPolicy,
    resolver: Arc<dyn NameResolver>,
    blocked_metric: IntCounterVec,
    blocked_total: Arc<AtomicU64>,
    observer: Option<BlockObserver>,
}

impl fmt::Debug for SsrfGuard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SsrfGuard")
            .field("policy", &self.policy)
            .field("blocked_total", &self.blocked_total())
            .finish_non_exhaustive()
    }
}

impl SsrfGuard {
    /// Registers `dispatcher_ssrf_blocked_total{reason}` on `registry`.
    pub fn new(
        policy: AddressPolicy,
        resolver: Arc<dyn NameResolver>,
        registry: &Registry,
    ) -> prometheus::Result<SsrfGuard> {
        let blocked_metric = IntCounterVec::new(
            Opts::new(
                "dispatcher_ssrf_blocked_total",
                "Webhook destinations refused because they resolve to a non-public address, by reason",
            ),
            &["reason"],
        )?;
        registry.register(Box::new(blocked_metric.clone()))?;
        Ok(SsrfGuard {
            policy,
            resolver,
            blocked_metric,
            blocked_total: Arc::new(AtomicU64::new(0)),
            observer: None,
        })
    }

    /// Calls `observer` on every refusal (set it before cloning the guard into a client).
    pub fn on_block(mut self, observer: impl Fn(&BlockEvent) + Send + Sync + 'static) -> Self {
        self.observer = Some(Arc::new(observer));
        self
    }

    pub fn policy(&self) -> AddressPolicy {
        self.policy
    }

    /// Refusals so far, all stages.
    pub fn blocked_total(&self) -> u64 {
        self.blocked_total.load(Ordering::Relaxed)
    }

    /// Configuration-time check: [`check_url`], then the name (if any) is resolved and every
    /// address checked. Passing says nothing about later lookups, which are checked again.
    pub async fn vet(&self, url: &Url) -> Result<Vec<IpAddr>, VetError> {
        let host = url.host_str().unwrap_or_default().to_string();
        if let Err(rejected) = check_url(url, &self.policy) {
            if let Some(blocked) = rejected.blocked() {
                self.record(BlockStage::Config, &host, *blocked);
            }
            return Err(rejected.into());
        }
        match url.host() {
            Some(Host::Domain(name)) => self
                .resolve_checked(name, BlockStage::Config)
                .await
                .map_err(|e| match e {
                    Refusal::Blocked(blocked) => VetError::Rejected(blocked.into()),
                    Refusal::Lookup(source) => VetError::Resolve { host, source },
                }),
            Some(Host::Ipv4(v4)) => Ok(vec![IpAddr::V4(v4)]),
            Some(Host::Ipv6(v6)) => Ok(vec![IpAddr::V6(v6)]),
            None => Err(UrlRejected::NoHost.into()),
        }
    }

    /// [`check_url`] with the refusal recorded.
    fn check_request_url(&self, url: &Url, stage: BlockStage) -> Result<(), UrlRejected> {
        check_url(url, &self.policy).inspect_err(|rejected| {
            if let Some(blocked) = rejected.blocked() {
                self.record(stage, url.host_str().unwrap_or_default(), *blocked);
            }
        })
    }

    /// Resolves `name` and refuses it whole if any address is refused: a connection may be tried
    /// on any of them.
    async fn resolve_checked(&self, name: &str, stage: BlockStage) -> Result<Vec<IpAddr>, Refusal> {
        let addrs = self.resolver.lookup(name).await.map_err(Refusal::Lookup)?;
        if addrs.is_empty() {
            return Err(Refusal::Lookup(io::Error::new(
                io::ErrorKind::NotFound,
                format!("{name} resolved to no address"),
            )));
        }
        for addr in &addrs {
            if let Err(blocked) = check_ip(*addr, &self.policy) {
                self.record(stage, name, blocked);
                return Err(Refusal::Blocked(blocked));
            }
        }
        Ok(addrs)
    }

    fn record(&self, stage: BlockStage, host: &str, blocked: Blocked) {
        self.blocked_total.fetch_add(1, Ordering::Relaxed);
        self.blocked_metric
            .with_label_values(&[blocked.reason.label()])
            .inc();
        tracing::warn!(
            stage = stage.label(),
            host,
            addr = %blocked.addr,
            reason = blocked.reason.label(),
            "webhook destination refused"
        );
        if let Some(observer) = &self.observer {
            observer(&BlockEvent {
                stage,
                host: host.to_string(),
                blocked,
            });
        }
    }
}

enum Refusal {
    Blocked(Blocked),
    Lookup(io::Error),
}

/// The HTTP client's resolver: the check happens here, after resolution and before connecting.
impl Resolve for SsrfGuard {
    fn resolve(&self, name: Name) -> Resolving {
        let guard = self.clone();
        Box::pin(async move {
            match guard
                .resolve_checked(name.as_str(), BlockStage::Resolution)
                .await
            {
                // Port 0: the client substitutes the URL's port or the scheme's default.
                Ok(addrs) => {
                    let addrs: Addrs = Box::new(addrs.into_iter().map(|ip| SocketAddr::new(ip, 0)));
                    Ok(addrs)
                }
                Err(Refusal::Blocked(blocked)) => Err(blocked.into()),
                Err(Refusal::Lookup(e)) => Err(e.into()),
            }
        })
    }
}

/// An HTTP client that cannot reach a refused address: requests are only built through
/// [`GuardedClient::request`], which checks the URL (a literal address never reaches the
/// resolver), names go through the guard's resolver, redirects are returned rather than followed,
/// and proxies from the environment are ignored (a proxy would resolve names for us).
#[derive(Debug, Clone)]
pub struct GuardedClient {
    client: reqwest::Client,
    guard: SsrfGuard,
}

impl GuardedClient {
    /// `attempt_timeout` bounds one whole attempt (connect, send, answer).
    pub fn new(
        guard: SsrfGuard,
        user_agent: &str,
        attempt_timeout: Duration,
    ) -> Result<GuardedClient, reqwest::Error> {
        let redirect_guard = guard.clone();
        // Never follows, like `Policy::none()`, but records a redirect to a refused literal
        // address so that probing shows up in the metric.
        let redirect = Policy::custom(move |attempt| {
            let _ = redirect_guard.check_request_url(attempt.url(), BlockStage::Redirect);
            attempt.stop()
        });
        let client = reqwest::Client::builder()
            .redirect(redirect)
            .timeout(attempt_timeout)
            .user_agent(user_agent)
            .no_proxy()
            .dns_resolver(guard.clone())
            .build()?;
        Ok(GuardedClient { client, guard })
    }

    pub fn guard(&self) -> &SsrfGuard {
        &self.guard
    }

    /// A request to `url`, or the reason it may not be sent.
    pub fn request(
        &self,
        method: reqwest::Method,
        url: &Url,
    ) -> Result<reqwest::RequestBuilder, UrlRejected> {
        self.guard.check_request_url(url, BlockStage::Request)?;
        Ok(self.client.request(method, url.clone()))
    }

    pub fn post(&self, url: &Url) -> Result<reqwest::RequestBuilder, UrlRejected> {
        self.request(reqwest::Method::POST, url)
    }
}

/// The refusal behind a failed request, if the guard's resolver refused the destination: such an
/// attempt is blocked, not a network failure, and retrying will not help until the name changes.
pub fn blocked_cause(err: &reqwest::Error) -> Option<&Blocked> {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(err);
    while let Some(e) = source {
        if let Some(blocked) = e.downcast_ref::<Blocked>() {
            return Some(blocked);
        }
        source = e.source();
    }
    None
}
