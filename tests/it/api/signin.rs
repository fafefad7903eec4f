//! Sign-in with Rocket.Chat (issue 17): callers' own Rocket.Chat logins, checked live against
//! the tenant's Rocket.Chat (the stand-in's `/api/v1/me`) on the tenant's host, with no session
//! minted. Each test failed first: before the feature every such request answered 401.

use std::sync::atomic::{AtomicI64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use agent_overview::admin::connect::{connect_for_sign_in, disconnect};
use agent_overview::admin::domains::{add_domain, list_domains, remove_domain, DomainError};
use agent_overview::admin::session::mint_session;
use agent_overview::config::{MetricsConfig, ReadSettings, SignInConfig};
use agent_overview::domain::aggregate::Aggregator;
use agent_overview::domain::clock::Clock;
use agent_overview::domain::host::HostMapping;
use agent_overview::domain::identity::{CallerContext, Session, TenantSignIn};
use agent_overview::http::App;
use agent_overview::signin::SignIn;
use agent_overview::store::dynamo::DynamoStore;
use agent_overview::store::{ConversationStore, FoldStats, IdentityStore, RangeQuery, ReadError};
use agent_overview::sync::cycle::SyncOptions;
use lambda_http::Body;
use serde_json::{json, Value};
use tokio::net::TcpListener;

use crate::support::api::request;
use crate::support::export::{fixture_dir, replay_cases_through};
use crate::support::harness;
use crate::support::rc_standin::{MeFault, StandIn, Workspace};

const FOLDER: &str = "custom-zone-relaxed";
/// `boss`, a livechat-manager of the custom-zone fixture.
const MANAGER: &str = "hPWGOz1VMcYptwg93";
const QUERY: &str = "name=Total_conversations&from=2024-03-01&to=2024-04-30";

/// A DynamoDB store that counts its identity reads (each one DynamoDB request).
struct Counting {
    inner: DynamoStore,
    reads: AtomicUsize,
}

impl Counting {
    fn take(&self) -> usize {
        self.reads.swap(0, Ordering::SeqCst)
    }
}

impl IdentityStore for Counting {
    async fn session(&self, token_hash: &str) -> Result<Option<Session>, ReadError> {
        self.reads.fetch_add(1, Ordering::SeqCst);
        self.inner.session(token_hash).await
    }
    async fn caller(&self, tenant: &str, user_id: &str) -> Result<CallerContext, ReadError> {
        self.reads.fetch_add(1, Ordering::SeqCst);
        self.inner.caller(tenant, user_id).await
    }
    async fn host_mapping(
        &self,
        exact: &str,
        wildcard: Option<&str>,
    ) -> Result<HostMapping, ReadError> {
        self.reads.fetch_add(1, Ordering::SeqCst);
        self.inner.host_mapping(exact, wildcard).await
    }
    async fn tenant_sign_in(&self, tenant: &str) -> Result<TenantSignIn, ReadError> {
        self.reads.fetch_add(1, Ordering::SeqCst);
        self.inner.tenant_sign_in(tenant).await
    }
}

impl ConversationStore for Counting {
    async fn fold(&self, query: &RangeQuery) -> Result<(Aggregator, FoldStats), ReadError> {
        self.inner.fold(query).await
    }
}

/// A tenant synced from a stand-in, connected for sign-in only, on its own host; an app whose
/// clock the test moves.
struct Tenant {
    name: String,
    host: String,
    standin: StandIn,
    app: App<Counting>,
    now: Arc<AtomicI64>,
}

impl Tenant {
    async fn start(workspace: Workspace) -> Tenant {
        Self::start_with(workspace, Duration::from_millis(500)).await
    }

    async fn start_with(workspace: Workspace, timeout: Duration) -> Tenant {
        let (client, names) = harness::ready().await;
        let name = harness::unique_tenant("signin");
        let standin = StandIn::start(workspace).await;
        crate::support::sync::run(&client, &names, &name, &standin.url, SyncOptions::default())
            .await
            .expect("the sync succeeds");
        let tid = harness::tid(&name);
        connect_for_sign_in(&client, &names, &tid, &standin.url, chrono::Utc::now())
            .await
            .unwrap();
        let host = format!("{name}.analytics.example.com");
        add_domain(&client, &names, Some(&tid), &host, chrono::Utc::now())
            .await
            .unwrap();
        let now = Arc::new(AtomicI64::new(chrono::Utc::now().timestamp_millis()));
        let clock: Clock = {
            let now = now.clone();
            Arc::new(move || now.load(Ordering::SeqCst))
        };
        let reads = ReadSettings::default();
        let app = App {
            store: Counting {
                inner: DynamoStore::new(client, names, reads.clone()),
                reads: AtomicUsize::new(0),
            },
            reads,
            clock: clock.clone(),
            sign_in: Some(SignIn::new(
                SignInConfig {
                    ttl: Duration::from_secs(55),
                    timeout,
                },
                clock,
                MetricsConfig::default(),
            )),
        };
        Tenant {
            name,
            host,
            standin,
            app,
            now,
        }
    }

    fn advance(&self, ms: i64) {
        self.now.fetch_add(ms, Ordering::SeqCst);
    }

    /// Status, `Retry-After` and body of a request with these credentials on `host`.
    async fn call_on(&self, host: &str, token: &str, user: &str) -> (u16, Option<String>, Value) {
        let res = self
            .app
            .handle(request(
                QUERY,
                &[("X-Auth-Token", token), ("X-User-Id", user), ("Host", host)],
            ))
            .await;
        let retry = res
            .headers()
            .get("retry-after")
            .map(|v| v.to_str().unwrap().to_string());
        let body = match res.body() {
            Body::Text(t) => serde_json::from_str(t).unwrap(),
            other => panic!("{other:?}"),
        };
        (res.status().as_u16(), retry, body)
    }

    async fn call(&self, token: &str, user: &str) -> (u16, Option<String>, Value) {
        self.call_on(&self.host, token, user).await
    }
}

fn workspace() -> Workspace {
    Workspace::from_export(&fixture_dir(FOLDER))
}

async fn cases_through_sign_in(folder: &str) {
    let t = Tenant::start(Workspace::from_export(&fixture_dir(folder))).await;
    // No fixture token has a session meanwhile: every case goes through sign-in.
    let _exports = harness::exports_lock().await;
    let failures =
        replay_cases_through(&t.app, folder, |_| true, &[("Host", t.host.as_str())]).await;
    assert!(
        failures.is_empty(),
        "{folder} through sign-in:\n{}",
        failures.join("\n")
    );
    // Once per caller, not once per request (68 cases).
    let cases: Vec<Value> = serde_json::from_str(
        &std::fs::read_to_string(fixture_dir(folder).join("cases.json")).unwrap(),
    )
    .unwrap();
    let callers: std::collections::HashSet<String> =
        cases.iter().map(|c| c["headers"].to_string()).collect();
    assert_eq!(t.standin.me_calls(), callers.len());
}

#[tokio::test]
async fn custom_zone_relaxed_answers_every_case_through_sign_in() {
    cases_through_sign_in("custom-zone-relaxed").await;
}

#[tokio::test]
async fn user_zone_canonical_answers_every_case_through_sign_in() {
    cases_through_sign_in("user-zone-canonical").await;
}

#[tokio::test]
async fn me_is_asked_once_per_caller_and_a_cached_sign_in_costs_what_a_session_does() {
    let t = Tenant::start(workspace()).await;
    let token = t.standin.login(MANAGER);
    t.app.store.take();
    let (status, _, _) = t.call(&token, MANAGER).await;
    assert_eq!(status, 200);
    assert_eq!(t.app.store.take(), 3, "first: session, host, tenant");
    for _ in 0..4 {
        assert_eq!(t.call(&token, MANAGER).await.0, 200);
        assert_eq!(
            t.app.store.take(),
            2,
            "cached: session, tenant, as a session's two"
        );
    }
    assert_eq!(t.standin.me_calls(), 1);

    // Concurrent first requests of another login share one check.
    let other = t.standin.login(MANAGER);
    t.standin.with(|s| {
        s.faults.only_path = "/api/v1/me".into();
        s.faults.delay_ms = 200;
    });
    let answers = futures::future::join_all((0..5).map(|_| t.call(&other, MANAGER))).await;
    assert!(answers.iter().all(|a| a.0 == 200), "{answers:?}");
    assert_eq!(t.standin.me_calls(), 2);

    // A minted session keeps working as before, with no host and no /me call.
    let (client, names) = harness::ready().await;
    let minted = mint_session(
        &client,
        &names,
        &harness::tid(&t.name),
        MANAGER,
        None,
        chrono::Utc::now(),
    )
    .await
    .unwrap()
    .to_string();
    let minted = minted.trim();
    t.app.store.take();
    let res = t
        .app
        .handle(request(
            QUERY,
            &[("X-Auth-Token", minted), ("X-User-Id", MANAGER)],
        ))
        .await;
    assert_eq!(res.status().as_u16(), 200);
    assert_eq!(t.app.store.take(), 2, "a session: session and caller");
    assert_eq!(t.standin.me_calls(), 2);
}

#[tokio::test]
async fn a_logout_stops_the_token_within_the_ttl_and_a_fresh_login_works_at_once() {
    let t = Tenant::start(workspace()).await;
    let token = t.standin.login(MANAGER);
    assert_eq!(t.call(&token, MANAGER).await.0, 200);
    t.standin.logout(MANAGER, &token);
    t.advance(54_000);
    assert_eq!(
        t.call(&token, MANAGER).await.0,
        200,
        "cached within the TTL"
    );
    t.advance(1_000);
    let (status, _, body) = t.call(&token, MANAGER).await;
    assert_eq!(status, 401, "55 s after the check: asked again, refused");
    assert_eq!(
        body,
        json!({"status":"error","message":"You must be logged in to do this."})
    );
    let fresh = t.standin.login(MANAGER);
    assert_eq!(t.call(&fresh, MANAGER).await.0, 200);
    // A refusal is remembered (five minutes): no /me call for it meanwhile.
    let calls = t.standin.me_calls();
    t.advance(299_000);
    assert_eq!(t.call(&token, MANAGER).await.0, 401);
    assert_eq!(t.standin.me_calls(), calls);
}

#[tokio::test]
async fn an_unmapped_host_and_another_tenants_host_admit_nobody() {
    let a = Tenant::start(workspace()).await;
    let b = Tenant::start(Workspace::from_export(&fixture_dir("user-zone-canonical"))).await;
    let token = a.standin.login(MANAGER);
    assert_eq!(a.call(&token, MANAGER).await.0, 200);
    assert_eq!(
        a.call_on("nobody.example.com", &token, MANAGER).await.0,
        401
    );
    assert_eq!(a.call_on("", &token, MANAGER).await.0, 401);
    // B's host: B's Rocket.Chat is asked, and does not know the token.
    assert_eq!(a.call_on(&b.host, &token, MANAGER).await.0, 401);
    assert_eq!(b.standin.me_calls(), 1);
    assert_eq!(a.standin.me_calls(), 1);
    // Disconnected: nobody signs in, even with a check still cached.
    let (client, names) = harness::ready().await;
    disconnect(&client, &names, &harness::tid(&a.name))
        .await
        .unwrap();
    assert_eq!(a.call(&token, MANAGER).await.0, 401);
}

#[tokio::test]
async fn rocket_chat_down_slow_5xx_or_429_is_503_with_retry_after_then_admitted_again() {
    // A 1 s timeout: long enough that a loaded machine answers /me within it, short enough
    // that a 3 s answer is past it.
    let t = Tenant::start_with(workspace(), Duration::from_millis(1_000)).await;
    let started = std::time::Instant::now();
    let token = t.standin.login(MANAGER);
    let unavailable = json!({"success":false,"error":"The service is busy; retry shortly [error-unavailable]","errorType":"error-unavailable"});

    t.standin.with(|s| s.faults.down = true);
    let (status, retry, body) = t.call(&token, MANAGER).await;
    assert_eq!(
        (status, retry.as_deref(), &body),
        (503, Some("5"), &unavailable)
    );
    t.standin.with(|s| s.faults.down = false);

    t.standin.with(|s| {
        s.faults.only_path = "/api/v1/me".into();
        s.faults.delay_ms = 3_000;
    });
    let (status, retry, _) = t.call(&token, MANAGER).await;
    assert_eq!(
        (status, retry.is_some()),
        (503, true),
        "slow: past the timeout"
    );
    t.standin.with(|s| s.faults.delay_ms = 0);

    t.standin.with(|s| s.faults.unavailable = 1);
    let (status, retry, _) = t.call(&token, MANAGER).await;
    assert_eq!((status, retry.is_some()), (503, true), "5xx");

    // Back up: admitted again at once (failures are not remembered).
    assert_eq!(t.call(&token, MANAGER).await.0, 200);

    // A 429 backs the tenant off until X-RateLimit-Reset, without asking meanwhile.
    let other = t.standin.login(MANAGER);
    t.standin.with(|s| {
        s.faults.rate_limited = 1;
        s.faults.rate_limit_reset_ms = 30_000;
    });
    let (status, retry, _) = t.call(&other, MANAGER).await;
    let retry: u64 = retry.unwrap().parse().unwrap();
    assert_eq!(status, 503);
    // The stand-in's reset is 30 s ahead on the wall clock, the function's clock is the test's,
    // which stands still while the calls above take real seconds: the wait may be longer by them.
    let elapsed = started.elapsed().as_secs() + 1;
    assert!((25..=31 + elapsed).contains(&retry), "{retry}");
    let calls = t.standin.me_calls();
    assert_eq!(t.call(&other, MANAGER).await.0, 503);
    assert_eq!(t.standin.me_calls(), calls, "backed off: not asked");
    t.advance((retry as i64 + 1) * 1_000);
    assert_eq!(t.call(&other, MANAGER).await.0, 200);

    // A positive check is never reused past its TTL, also not while Rocket.Chat is down.
    t.standin.with(|s| s.faults.down = true);
    t.advance(54_999);
    assert_eq!(t.call(&other, MANAGER).await.0, 200, "within the TTL");
    t.advance(1);
    assert_eq!(
        t.call(&other, MANAGER).await.0,
        503,
        "past it, down: not admitted"
    );
    t.standin.with(|s| s.faults.down = false);
    assert_eq!(t.call(&other, MANAGER).await.0, 200);
}

#[tokio::test]
async fn hostile_me_answers_are_refused_bounded_and_never_forward_the_token() {
    let t = Tenant::start(workspace()).await;
    for (fault, expected) in [
        (MeFault::OtherId, 401),
        (MeFault::Inactive, 401),
        (MeFault::Malformed, 503),
        (MeFault::Huge, 503),
    ] {
        let token = t.standin.login(MANAGER);
        t.standin.with(|s| s.faults.me = Some(fault.clone()));
        let (status, _, _) = t.call(&token, MANAGER).await;
        assert_eq!(status, expected, "{fault:?}");
    }
    // A redirect to another host is not followed: that host sees no request at all.
    let elsewhere = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", elsewhere.local_addr().unwrap());
    let reached = Arc::new(AtomicUsize::new(0));
    let counter = reached.clone();
    let task = tokio::spawn(async move {
        while let Ok((_stream, _)) = elsewhere.accept().await {
            counter.fetch_add(1, Ordering::SeqCst);
        }
    });
    let token = t.standin.login(MANAGER);
    t.standin
        .with(|s| s.faults.me = Some(MeFault::RedirectTo(url)));
    let (status, retry, _) = t.call(&token, MANAGER).await;
    assert_eq!((status, retry.is_some()), (503, true));
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(
        reached.load(Ordering::SeqCst),
        0,
        "no connection to the other host"
    );
    task.abort();
}

#[tokio::test]
async fn a_monitor_only_caller_is_refused() {
    let mut w = workspace();
    // Rocket.Chat's default roles for the permission include livechat-monitor.
    for p in &mut w.permissions {
        if p["_id"] == "view-livechat-manager" {
            p["roles"] = json!(["admin", "livechat-manager", "livechat-monitor"]);
        }
    }
    w.users.push(json!({
        "_id": "monitor-1", "username": "mona", "roles": ["user", "livechat-monitor"],
        "active": true, "type": "user", "_updatedAt": "2024-01-01T00:00:00.000Z",
    }));
    let t = Tenant::start(w).await;
    let monitor = t.standin.login("monitor-1");
    let (status, _, body) = t.call(&monitor, "monitor-1").await;
    assert_eq!(status, 403, "{body}");
    let manager = t.standin.login(MANAGER);
    assert_eq!(t.call(&manager, MANAGER).await.0, 200);
}

#[tokio::test]
async fn domains_belong_to_one_tenant_and_a_wildcard_names_the_first_label() {
    let (client, names) = harness::ready().await;
    let a = harness::unique_tenant("dom");
    let b = harness::unique_tenant("dom");
    let host = format!("{a}.hosts.example.com");
    let now = chrono::Utc::now();
    add_domain(
        &client,
        &names,
        Some(&harness::tid(&a)),
        &host.to_uppercase(),
        now,
    )
    .await
    .unwrap();
    // Idempotent for its tenant; refused for another, naming the holder.
    add_domain(
        &client,
        &names,
        Some(&harness::tid(&a)),
        &format!("{host}.:443"),
        now,
    )
    .await
    .unwrap();
    match add_domain(&client, &names, Some(&harness::tid(&b)), &host, now).await {
        Err(DomainError::Held { holder, .. }) => assert_eq!(holder, a),
        other => panic!("{:?}", other.map(|d| d.to_string())),
    }
    let listed = list_domains(&client, &names, Some(&harness::tid(&a)))
        .await
        .unwrap()
        .to_string();
    assert!(listed.contains(&format!("{host}\t{a}")), "{listed}");
    assert!(
        add_domain(&client, &names, None, &host, now).await.is_err(),
        "a host needs its tenant"
    );
    remove_domain(&client, &names, &host).await.unwrap();
    add_domain(&client, &names, Some(&harness::tid(&b)), &host, now)
        .await
        .unwrap();
    remove_domain(&client, &names, &host).await.unwrap();

    // A wildcard: each host under it names the tenant of its first label.
    let w = Tenant::start(workspace()).await;
    let suffix = format!("{}.wild.example.com", w.name.replace('-', ""));
    add_domain(&client, &names, None, &format!("*.{suffix}"), now)
        .await
        .unwrap();
    let token = w.standin.login(MANAGER);
    let (status, _, _) = w
        .call_on(&format!("{}.{suffix}", w.name), &token, MANAGER)
        .await;
    assert_eq!(status, 200);
    assert_eq!(
        w.call_on(&format!("{a}.{suffix}"), &token, MANAGER).await.0,
        401,
        "another first label: another tenant, not connected"
    );
    remove_domain(&client, &names, &format!("*.{suffix}"))
        .await
        .unwrap();
}

#[tokio::test]
async fn a_sign_in_only_tenant_is_never_scheduled_for_sync() {
    let t = Tenant::start(workspace()).await;
    let (client, names) = harness::ready().await;
    let mut listed = Vec::new();
    agent_overview::dynamo::sync::for_each_connection(&client, &names, async |c| {
        listed.push(c.tenant);
        Ok(())
    })
    .await
    .unwrap();
    assert!(
        !listed.contains(&t.name),
        "the fan-out lists only sync connections"
    );
}

/// The monitor rule holds for sessions too: a workspace's permission document (imported or
/// synced) that grants `livechat-monitor` no longer admits a monitor-only caller. Before, the
/// session of `u-monitor` answered 200 (the permission listed its role).
#[tokio::test]
async fn a_monitor_only_session_is_refused_whatever_the_permission_document_says() {
    use agent_overview::domain::identity::{hash_token, User};
    let store = crate::support::api::store();
    store.put_view_livechat_manager_roles(
        "acme",
        vec![
            "admin".into(),
            "livechat-manager".into(),
            "livechat-monitor".into(),
        ],
    );
    for (id, roles) in [
        ("u-monitor", vec!["user", "livechat-monitor"]),
        ("u-both", vec!["livechat-monitor", "livechat-manager"]),
    ] {
        store.put_user(
            "acme",
            User {
                id: id.into(),
                username: id.into(),
                roles: roles.into_iter().map(String::from).collect(),
                utc_offset: None,
                generation: None,
            },
        );
        store.put_session(
            &hash_token(&format!("tok-{id}")),
            Session {
                tenant: "acme".into(),
                user_id: id.into(),
                issued_at_ms: crate::support::api::NOW_MS,
                generation: None,
            },
        );
    }
    let app = crate::support::api::memory_app(store);
    let q = "name=Total_conversations&from=2025-11-01&to=2025-11-20";
    let monitor = crate::support::api::as_user("tok-u-monitor", "u-monitor");
    assert_eq!(crate::support::api::call(&app, q, &monitor).await.0, 403);
    let both = crate::support::api::as_user("tok-u-both", "u-both");
    assert_eq!(crate::support::api::call(&app, q, &both).await.0, 200);
}

/// API Gateway's `requestContext.domainName` names the host, not a `Host` header a client
/// may set: a request on the tenant's custom domain signs in whatever its `Host` says, and one
/// on the default execute-api domain admits no Rocket.Chat token.
#[tokio::test]
async fn the_host_is_api_gateways_domain_name_when_there_is_one() {
    use agent_overview::functions::api::http_request;
    let t = Tenant::start(workspace()).await;
    let token = t.standin.login(MANAGER);
    let event = |domain: &str, host: &str| {
        let text = std::fs::read_to_string(
            std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("events/http-api-agent-overview.json"),
        )
        .unwrap();
        let mut e: Value = serde_json::from_str(&text).unwrap();
        e["requestContext"]["domainName"] = json!(domain);
        e["headers"]["host"] = json!(host);
        e["headers"]["x-auth-token"] = json!(token);
        e["headers"]["x-user-id"] = json!(MANAGER);
        e
    };
    let (_, req) = http_request(event(&t.host, "wrong.example.com")).unwrap();
    assert_eq!(t.app.handle(req).await.status().as_u16(), 200);
    let (_, req) = http_request(event(
        "a1b2c3d4e5.execute-api.us-east-1.amazonaws.com",
        &t.host,
    ))
    .unwrap();
    assert_eq!(t.app.handle(req).await.status().as_u16(), 401);
}

/// The operators' commands as typed: connect for sign-in only, the host commands, and the
/// refusals (an http URL to a non-loopback host, a host held by another tenant).
#[tokio::test]
async fn the_admin_commands_connect_and_map_hosts() {
    use crate::support::admin::admin;
    let (_client, names) = harness::ready().await;
    let tenant = harness::unique_tenant("cli");
    let other = harness::unique_tenant("cli");
    let host = format!("{tenant}.cli.example.com");
    let text = |o: &std::process::Output| {
        format!(
            "{}{}",
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        )
    };

    let out = admin(
        &names,
        &[
            "connect",
            "--tenant",
            &tenant,
            "--url",
            "https://chat.example.com",
        ],
    );
    assert!(out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("for sign-in only"), "{}", text(&out));
    let out = admin(
        &names,
        &[
            "connect",
            "--tenant",
            &tenant,
            "--url",
            "http://chat.example.com",
        ],
    );
    assert!(
        !out.status.success(),
        "http to a non-loopback host is refused"
    );
    let out = admin(
        &names,
        &[
            "connect",
            "--tenant",
            &tenant,
            "--url",
            "https://x.example",
            "--user-id",
            "bot",
        ],
    );
    assert!(
        !out.status.success(),
        "a service account needs its secret too"
    );

    let out = admin(
        &names,
        &["add-domain", "--tenant", &tenant, "--domain", &host],
    );
    assert!(out.status.success(), "{}", text(&out));
    let out = admin(
        &names,
        &[
            "add-domain",
            "--tenant",
            &other,
            "--domain",
            &host.to_uppercase(),
        ],
    );
    assert!(!out.status.success());
    assert!(
        text(&out).contains(&format!("already belongs to tenant {tenant}")),
        "{}",
        text(&out)
    );
    let out = admin(&names, &["list-domains", "--tenant", &tenant]);
    assert!(String::from_utf8_lossy(&out.stdout).contains(&format!("{host}\t{tenant}")));
    let out = admin(&names, &["remove-domain", "--domain", &host]);
    assert!(
        text(&out).contains(&format!("was tenant {tenant}")),
        "{}",
        text(&out)
    );
    let out = admin(&names, &["disconnect", "--tenant", &tenant]);
    assert!(text(&out).contains("disconnected"), "{}", text(&out));
}

/// No token, token hash or user id in any log line of sign-in, at any level, whatever the
/// outcome: admitted, refused, unavailable.
#[tokio::test]
async fn sign_in_logs_no_token_hash_or_user_id() {
    use agent_overview::domain::identity::hash_token;
    let t = Tenant::start_with(workspace(), Duration::from_millis(300)).await;
    let token = t.standin.login(MANAGER);
    let (log, _guard) = crate::support::logs::capture("trace,hyper=trace,reqwest=trace");
    assert_eq!(t.call(&token, MANAGER).await.0, 200);
    assert_eq!(t.call("not-a-login-token", MANAGER).await.0, 401);
    let other = t.standin.login(MANAGER);
    t.standin.with(|s| s.faults.unavailable = 1);
    assert_eq!(t.call(&other, MANAGER).await.0, 503);
    assert!(
        log.text().contains("sign-in check failed"),
        "the failure is logged"
    );
    log.assert_absent(&[
        &token,
        &hash_token(&token),
        &other,
        &hash_token(&other),
        "not-a-login-token",
        MANAGER,
    ]);
}

/// The template: the custom domain is off unless asked for, sign-in's settings reach the
/// function, its alarm exists, and the function gained no write permission.
#[test]
fn the_template_keeps_the_custom_domain_optional_and_the_function_read_only() {
    let text =
        std::fs::read_to_string(format!("{}/template.yaml", env!("CARGO_MANIFEST_DIR"))).unwrap();
    let t: serde_norway::Value = serde_norway::from_str(&text).unwrap();
    let resources = &t["Resources"];
    for name in ["CustomDomain", "CustomDomainMapping"] {
        assert_eq!(
            resources[name]["Condition"].as_str(),
            Some("HasCustomDomain"),
            "{name}"
        );
    }
    assert_eq!(
        t["Parameters"]["CustomDomainName"]["Default"].as_str(),
        Some("")
    );
    let env = &resources["AgentOverviewFunction"]["Properties"]["Environment"]["Variables"];
    assert!(env.get("ROCKETCHAT_SIGN_IN_TTL_SECONDS").is_some());
    assert!(env.get("ROCKETCHAT_SIGN_IN_TIMEOUT_MS").is_some());
    assert_eq!(
        resources["SignInUnreachableAlarm"]["Properties"]["MetricName"].as_str(),
        Some("SignInUnreachable")
    );
    let policies =
        serde_norway::to_string(&resources["AgentOverviewFunction"]["Properties"]["Policies"])
            .unwrap();
    for write in ["PutItem", "UpdateItem", "DeleteItem", "BatchWriteItem"] {
        assert!(
            !policies.contains(write),
            "the API function stays read-only: {write}"
        );
    }
}
