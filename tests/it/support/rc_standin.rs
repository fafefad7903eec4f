//! A stand-in for Rocket.Chat's REST API (`../../shared` spec `rocketchat-rest-sync.md`), served
//! in-process over HTTP/1.1 so the sync's real client talks to it: ISO dates, whole stored
//! documents, `count` capped at 100, `count` echoed by `livechat/:rid/messages`, Rocket.Chat's
//! 401/403/429 bodies and headers (`X-RateLimit-Reset` in epoch milliseconds). It is a test
//! double of someone else's server, not a second implementation of ours: it selects and sorts
//! as Rocket.Chat's queries do and knows nothing of figures.
//!
//! Faults are injected per test: the next N answers 429 or 503, a body cut off mid-page,
//! refused connections, a wrong token, slow answers, pages without end. Like MongoDB, it
//! keeps no order among ties of the requested sort: ties come in an order that changes with
//! every request (the sync must ask for a unique order). A hook runs after each page of
//! `livechat/rooms`, so a test can delete or create rooms while the sync walks.
//!
//! For sign-in it also answers `GET /api/v1/me` with a caller's own login token, and logs
//! users in and out ([`StandIn::login`], [`StandIn::logout`]); [`MeFault`] makes `/me` hostile.

use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::sync::{Arc, Mutex};

use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

pub const USER_ID: &str = "sync-bot";
pub const TOKEN: &str = "stand-in-personal-access-token";
const UPPER_COUNT_LIMIT: usize = 100;

/// A workspace's stored documents, in REST's JSON (dates as ISO strings).
#[derive(Debug, Clone, Default)]
pub struct Workspace {
    pub rooms: Vec<Value>,
    pub messages: Vec<Value>,
    pub users: Vec<Value>,
    pub settings: Vec<Value>,
    pub permissions: Vec<Value>,
}

impl Workspace {
    /// A `mongoexport` folder (relaxed or canonical Extended JSON), as the server would hold it.
    pub fn from_export(dir: &Path) -> Self {
        let read = |name: &str| -> Vec<Value> {
            let path = dir.join(format!("{name}.json"));
            let Ok(text) = std::fs::read_to_string(&path) else {
                return Vec::new();
            };
            text.lines()
                .filter(|l| !l.trim().is_empty())
                .map(|l| plain(serde_json::from_str(l).expect("fixture line is JSON")))
                .collect()
        };
        let mut w = Workspace {
            rooms: read("rocketchat_room"),
            messages: read("rocketchat_message"),
            users: read("users"),
            settings: read("rocketchat_settings"),
            permissions: read("rocketchat_permissions"),
        };
        // Every stored document has an `_updatedAt`; an export may leave it out.
        for room in &mut w.rooms {
            if room.get("_updatedAt").is_none() {
                let ts = room.get("ts").cloned().unwrap_or(json!(iso(0)));
                room["_updatedAt"] = ts;
            }
        }
        for doc in w
            .users
            .iter_mut()
            .chain(&mut w.permissions)
            .chain(&mut w.messages)
        {
            if doc.get("_updatedAt").is_none() {
                let ts = doc
                    .get("ts")
                    .cloned()
                    .unwrap_or(json!("2024-01-01T00:00:00.000Z"));
                doc["_updatedAt"] = ts;
            }
        }
        w
    }

    pub fn room_mut(&mut self, id: &str) -> &mut Value {
        self.rooms
            .iter_mut()
            .find(|r| r["_id"] == id)
            .unwrap_or_else(|| panic!("no room {id}"))
    }
}

/// ISO-8601 with milliseconds, as Rocket.Chat's REST API writes dates.
pub fn iso(ms: i64) -> String {
    DateTime::<Utc>::from_timestamp_millis(ms)
        .unwrap()
        .to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// Extended JSON as REST shows it: dates as ISO strings, wrapped numbers as numbers.
fn plain(v: Value) -> Value {
    match v {
        Value::Object(map) if map.len() == 1 => {
            let (k, inner) = map.iter().next().unwrap();
            match (k.as_str(), inner) {
                ("$date", Value::String(s)) => {
                    let ms = DateTime::parse_from_rfc3339(s).unwrap().timestamp_millis();
                    json!(iso(ms))
                }
                ("$date", Value::Object(o)) => {
                    json!(iso(o["$numberLong"].as_str().unwrap().parse().unwrap()))
                }
                ("$date", Value::Number(n)) => json!(iso(n.as_i64().unwrap())),
                ("$numberInt" | "$numberLong", Value::String(s)) => {
                    json!(s.parse::<i64>().unwrap())
                }
                ("$numberDouble", Value::String(s)) => json!(s.parse::<f64>().unwrap()),
                ("$oid", Value::String(s)) => json!(s),
                _ => Value::Object(map.into_iter().map(|(k, v)| (k, plain(v))).collect()),
            }
        }
        Value::Object(map) => Value::Object(map.into_iter().map(|(k, v)| (k, plain(v))).collect()),
        Value::Array(items) => Value::Array(items.into_iter().map(plain).collect()),
        other => other,
    }
}

/// Faults for the next requests; each counter is spent one request at a time.
#[derive(Debug, Default)]
pub struct Faults {
    /// Answer 429 with `X-RateLimit-Reset` this many ms ahead.
    pub rate_limited: u32,
    /// Faulted requests answered as usual before `rate_limited` starts counting (a limit that
    /// starts after so many requests, not after so much time).
    pub rate_limit_after: u32,
    pub rate_limit_reset_ms: i64,
    /// Answer 503.
    pub unavailable: u32,
    /// Send the headers and half the body, then close the connection.
    pub cut_mid_body: u32,
    /// Close every connection without an answer while set (the server is gone).
    pub down: bool,
    /// Answer 403 on these paths (`livechat/rooms`, …).
    pub forbidden: HashSet<String>,
    /// Only requests whose path contains this are faulted (all when empty).
    pub only_path: String,
    /// Every answer waits this long (a slow server).
    pub delay_ms: u64,
    /// `livechat/:rid/messages` answers full pages of new messages forever, without `total`.
    pub endless_messages: bool,
    /// A hostile or broken `/api/v1/me` answer, while set.
    pub me: Option<MeFault>,
}

/// How `/api/v1/me` misbehaves (sign-in tests).
#[derive(Debug, Clone)]
pub enum MeFault {
    /// A 200 about another user.
    OtherId,
    /// A 200 with `active: false`.
    Inactive,
    /// A 200 whose body is not a user object.
    Malformed,
    /// A 200 of 1 MB.
    Huge,
    /// A 302 to this URL.
    RedirectTo(String),
}

/// Runs after each page of `livechat/rooms` is answered (before the next request): the
/// workspace, how many such pages were answered so far, and the request's query.
pub type RoomsHook = Box<dyn FnMut(&mut Workspace, usize, &str) + Send>;

#[derive(Default)]
pub struct Shared {
    pub workspace: Workspace,
    pub faults: Faults,
    /// Every request, `path?query`, in order.
    pub log: Vec<String>,
    pub after_rooms_page: Option<RoomsHook>,
    rooms_pages: usize,
}

pub struct StandIn {
    pub url: String,
    pub shared: Arc<Mutex<Shared>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for StandIn {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl StandIn {
    pub async fn start(workspace: Workspace) -> StandIn {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let shared = Arc::new(Mutex::new(Shared {
            workspace,
            ..Shared::default()
        }));
        let state = shared.clone();
        let task = tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    return;
                };
                tokio::spawn(serve(stream, state.clone()));
            }
        });
        StandIn { url, shared, task }
    }

    pub fn with<R>(&self, f: impl FnOnce(&mut Shared) -> R) -> R {
        f(&mut self.shared.lock().unwrap())
    }

    pub fn requests(&self) -> Vec<String> {
        self.with(|s| s.log.clone())
    }

    /// A login of `user_id`, as `POST /api/v1/login` makes one: a new token whose hash is added
    /// to the user's `services.resume.loginTokens`. Returns the token.
    pub fn login(&self, user_id: &str) -> String {
        use std::sync::atomic::{AtomicU64, Ordering};
        static LOGINS: AtomicU64 = AtomicU64::new(0);
        let token = format!(
            "login-{}-{}",
            LOGINS.fetch_add(1, Ordering::Relaxed),
            Utc::now().timestamp_nanos_opt().unwrap_or_default()
        );
        let hashed = agent_overview::domain::identity::hash_token(&token);
        self.with(|s| {
            let user = s
                .workspace
                .users
                .iter_mut()
                .find(|u| u["_id"] == user_id)
                .unwrap_or_else(|| panic!("no user {user_id}"));
            if user.pointer("/services/resume/loginTokens").is_none() {
                user["services"] = json!({"resume": {"loginTokens": []}});
            }
            user["services"]["resume"]["loginTokens"]
                .as_array_mut()
                .unwrap()
                .push(json!({"when": iso(Utc::now().timestamp_millis()), "hashedToken": hashed}));
        });
        token
    }

    /// A logout (`POST /api/v1/logout`): the token's hash leaves the user's login tokens.
    pub fn logout(&self, user_id: &str, token: &str) {
        let hashed = agent_overview::domain::identity::hash_token(token);
        self.with(|s| {
            for user in s.workspace.users.iter_mut().filter(|u| u["_id"] == user_id) {
                if let Some(tokens) = user
                    .pointer_mut("/services/resume/loginTokens")
                    .and_then(Value::as_array_mut)
                {
                    tokens.retain(|t| t["hashedToken"] != hashed.as_str());
                }
            }
        });
    }

    /// How many `/api/v1/me` requests reached the stand-in.
    pub fn me_calls(&self) -> usize {
        self.requests()
            .iter()
            .filter(|r| r.split('?').next() == Some("/api/v1/me"))
            .count()
    }
}

/// `GET /api/v1/me` as Rocket.Chat answers it: the user whose `_id` is `X-User-Id` and whose
/// login tokens hold `base64(sha256(X-Auth-Token))`, unexpired (Rocket.Chat's clean-up job
/// drops expired tokens) — the user document without `services` — or 401.
fn me(s: &mut Shared, headers: &HashMap<String, String>) -> Response {
    if s.faults.rate_limited > 0 {
        s.faults.rate_limited -= 1;
        let reset = Utc::now().timestamp_millis() + s.faults.rate_limit_reset_ms;
        return Response {
            status: 429,
            headers: vec![
                ("X-RateLimit-Limit", "10".into()),
                ("X-RateLimit-Remaining", "0".into()),
                ("X-RateLimit-Reset", reset.to_string()),
            ],
            body: json!({"success":false,"error":"Error, too many requests. Please slow down. [error-too-many-requests]"}),
        };
    }
    if s.faults.unavailable > 0 {
        s.faults.unavailable -= 1;
        return error(503, json!({"success":false,"error":"unavailable"}));
    }
    let unauthorized = error(
        401,
        json!({"success":false,"error":"You must be logged in to do this.","status":"error","message":"You must be logged in to do this."}),
    );
    let (Some(token), Some(user_id)) = (headers.get("x-auth-token"), headers.get("x-user-id"))
    else {
        return unauthorized;
    };
    let hashed = agent_overview::domain::identity::hash_token(token);
    let days = s
        .workspace
        .settings
        .iter()
        .find(|x| x["_id"] == "Accounts_LoginExpiration")
        .and_then(|x| x["value"].as_i64())
        .unwrap_or(90);
    let now = Utc::now().timestamp_millis();
    let live = |t: &Value| {
        t["hashedToken"] == hashed.as_str()
            && t["when"]
                .as_str()
                .and_then(|w| DateTime::parse_from_rfc3339(w).ok())
                .is_some_and(|w| w.timestamp_millis() + days * 86_400_000 > now)
    };
    let Some(user) = s.workspace.users.iter().find(|u| {
        u["_id"] == user_id.as_str()
            && u.pointer("/services/resume/loginTokens")
                .and_then(Value::as_array)
                .is_some_and(|tokens| tokens.iter().any(live))
    }) else {
        return unauthorized;
    };
    let mut me = user.clone();
    if let Some(map) = me.as_object_mut() {
        map.remove("services");
        map.insert("success".into(), json!(true));
    }
    match s.faults.me.clone() {
        None => ok(me),
        Some(MeFault::OtherId) => {
            me["_id"] = json!("someone-else");
            ok(me)
        }
        Some(MeFault::Inactive) => {
            me["active"] = json!(false);
            ok(me)
        }
        Some(MeFault::Malformed) => ok(json!("<html>not a user</html>")),
        Some(MeFault::Huge) => {
            me["padding"] = json!("x".repeat(1 << 20));
            ok(me)
        }
        Some(MeFault::RedirectTo(url)) => Response {
            status: 302,
            headers: vec![("Location", format!("{url}/api/v1/me"))],
            body: json!({}),
        },
    }
}

struct Response {
    status: u16,
    headers: Vec<(&'static str, String)>,
    body: Value,
}

fn ok(body: Value) -> Response {
    Response {
        status: 200,
        headers: Vec::new(),
        body,
    }
}

fn error(status: u16, body: Value) -> Response {
    Response {
        status,
        headers: Vec::new(),
        body,
    }
}

async fn serve(mut stream: TcpStream, shared: Arc<Mutex<Shared>>) {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
        match stream.read(&mut chunk).await {
            Ok(0) | Err(_) => return,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    }
    let text = String::from_utf8_lossy(&buf).to_string();
    let mut lines = text.split("\r\n");
    let target = lines
        .next()
        .and_then(|l| l.split(' ').nth(1))
        .unwrap_or("/")
        .to_string();
    let headers: HashMap<String, String> = lines
        .take_while(|l| !l.is_empty())
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();

    let (cut, response, delay_ms) = {
        let mut s = shared.lock().unwrap();
        if s.faults.down {
            return;
        }
        s.log.push(target.clone());
        let (cut, response) = if target.split('?').next() == Some("/api/v1/me") {
            (false, me(&mut s, &headers))
        } else {
            answer(&mut s, &target, &headers)
        };
        let slow = s.faults.only_path.is_empty() || target.contains(&s.faults.only_path);
        (cut, response, if slow { s.faults.delay_ms } else { 0 })
    };
    if delay_ms > 0 {
        tokio::time::sleep(std::time::Duration::from_millis(delay_ms)).await;
    }
    let body = response.body.to_string().into_bytes();
    let reason = match response.status {
        200 => "OK",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        429 => "Too Many Requests",
        _ => "Service Unavailable",
    };
    let mut head = format!(
        "HTTP/1.1 {} {reason}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n",
        response.status,
        body.len()
    );
    for (k, v) in &response.headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str("\r\n");
    let _ = stream.write_all(head.as_bytes()).await;
    let sent = if cut {
        &body[..body.len() / 2]
    } else {
        &body[..]
    };
    let _ = stream.write_all(sent).await;
    let _ = stream.shutdown().await;
}

/// The answer, and whether to cut its body short.
fn answer(s: &mut Shared, target: &str, headers: &HashMap<String, String>) -> (bool, Response) {
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    let params: HashMap<String, String> = form_urlencoded::parse(query.as_bytes())
        .into_owned()
        .collect();
    let Some(route) = path.strip_prefix("/api/v1/") else {
        return (
            false,
            error(404, json!({"success":false,"error":"Not found"})),
        );
    };
    // Authentication comes first, as in Rocket.Chat's route wrapper.
    if headers.get("x-auth-token").map(String::as_str) != Some(TOKEN)
        || headers.get("x-user-id").map(String::as_str) != Some(USER_ID)
    {
        return (
            false,
            error(
                401,
                json!({"success":false,"error":"You must be logged in to do this.","status":"error","message":"You must be logged in to do this."}),
            ),
        );
    }
    let faulted = s.faults.only_path.is_empty() || route.contains(&s.faults.only_path);
    let held_off = faulted && s.faults.rate_limit_after > 0;
    if held_off {
        s.faults.rate_limit_after -= 1;
    }
    if faulted && !held_off && s.faults.rate_limited > 0 {
        s.faults.rate_limited -= 1;
        let reset = Utc::now().timestamp_millis() + s.faults.rate_limit_reset_ms;
        let wait_s = (s.faults.rate_limit_reset_ms + 999) / 1000;
        return (
            false,
            Response {
                status: 429,
                headers: vec![
                    ("X-RateLimit-Limit", "10".into()),
                    ("X-RateLimit-Remaining", "0".into()),
                    ("X-RateLimit-Reset", reset.to_string()),
                ],
                body: json!({"success":false,"error":format!("Error, too many requests. Please slow down. You must wait {wait_s} seconds before trying this endpoint again. [error-too-many-requests]")}),
            },
        );
    }
    if faulted && s.faults.unavailable > 0 {
        s.faults.unavailable -= 1;
        return (
            false,
            error(503, json!({"success":false,"error":"unavailable"})),
        );
    }
    let route_key = route.split('/').next().unwrap_or(route);
    if s.faults
        .forbidden
        .iter()
        .any(|f| route.starts_with(f.as_str()))
    {
        return (
            false,
            error(
                403,
                json!({"success":false,"error":"User does not have the permissions required for this action [error-unauthorized]"}),
            ),
        );
    }
    let cut = faulted && s.faults.cut_mid_body > 0;
    if cut {
        s.faults.cut_mid_body -= 1;
    }
    let seed = s.log.len() as u64;
    if route == "livechat/rooms" {
        let rooms: Vec<Value> = s
            .workspace
            .rooms
            .iter()
            .filter(|r| r["t"] == "l")
            .cloned()
            .collect();
        let response = list(
            rooms,
            &params,
            "rooms",
            Some(json!({"ts": -1})),
            false,
            seed,
        );
        s.rooms_pages += 1;
        let pages = s.rooms_pages;
        if let Some(mut hook) = s.after_rooms_page.take() {
            hook(&mut s.workspace, pages, query);
            s.after_rooms_page = Some(hook);
        }
        return (cut, response);
    }
    if s.faults.endless_messages && route.ends_with("/messages") {
        let offset: usize = params
            .get("offset")
            .and_then(|o| o.parse().ok())
            .unwrap_or(0);
        let page: Vec<Value> = (0..UPPER_COUNT_LIMIT)
            .map(|i| json!({"_id": format!("m{:09}", offset + i), "rid": "r", "msg": "x",
                "ts": iso(1_717_200_000_000 + (offset + i) as i64), "u": {"_id": "a", "username": "kim"}}))
            .collect();
        return (cut, ok(json!({"messages": page, "success": true})));
    }
    let w = &s.workspace;
    let response = match route {
        "chat.syncMessages" => {
            let rid = params.get("roomId").cloned().unwrap_or_default();
            let since = params.get("lastUpdate").cloned().unwrap_or_default();
            let updated: Vec<Value> = w
                .messages
                .iter()
                .filter(|m| {
                    m["rid"] == rid.as_str()
                        && m["_hidden"] != true
                        && m["_updatedAt"].as_str().unwrap_or("") > since.as_str()
                })
                .cloned()
                .collect();
            ok(json!({"result":{"updated":updated,"deleted":[]},"success":true}))
        }
        "permissions.listAll" => {
            ok(json!({"update": w.permissions, "remove": [], "success": true}))
        }
        "settings.public" => {
            let id = params.get("_id").cloned().unwrap_or_default();
            let found: Vec<Value> = w
                .settings
                .iter()
                .filter(|s| s["_id"] == id.as_str())
                .map(|s| json!({"_id": s["_id"], "value": s["value"]}))
                .collect();
            let n = found.len();
            ok(json!({"settings": found, "count": n, "offset": 0, "total": n, "success": true}))
        }
        "users.list" => {
            let users = w.users.iter().map(|u| listed_user(u, false)).collect();
            list(users, &params, "users", None, false, seed)
        }
        "users.info" => {
            let id = params.get("userId").cloned().unwrap_or_default();
            match w.users.iter().find(|u| u["_id"] == id.as_str()) {
                Some(u) => ok(json!({"user": listed_user(u, true), "success": true})),
                None => error(400, json!({"success":false,"error":"User not found."})),
            }
        }
        _ if route.starts_with("settings/") => {
            let id = &route["settings/".len()..];
            match w.settings.iter().find(|s| s["_id"] == id) {
                Some(s) => ok(json!({"_id": id, "value": s["value"], "success": true})),
                None => error(
                    400,
                    json!({"success":false,"error":"error-setting-not-found"}),
                ),
            }
        }
        _ if route_key == "livechat" && route.ends_with("/messages") => {
            let rid = &route["livechat/".len()..route.len() - "/messages".len()];
            if !w.rooms.iter().any(|r| r["_id"] == rid && r["t"] == "l") {
                error(400, json!({"success":false,"error":"invalid-room"}))
            } else {
                // `{rid, $or: [{t: {$exists: false}}, {t: "livechat-close"}]}`: an explicit
                // `t: null` exists, so it is not selected.
                let messages: Vec<Value> = w
                    .messages
                    .iter()
                    .filter(|m| m["rid"] == rid)
                    .filter(|m| m.get("t").is_none() || m["t"] == "livechat-close")
                    .cloned()
                    .collect();
                list(
                    messages,
                    &params,
                    "messages",
                    Some(json!({"ts": -1})),
                    true,
                    seed,
                )
            }
        }
        _ => error(404, json!({"success":false,"error":"Not found"})),
    };
    (cut, response)
}

/// `users.list` leaves out `services` and `utcOffset`; `users.info` only `services`.
fn listed_user(u: &Value, info: bool) -> Value {
    let mut u = u.clone();
    if let Some(map) = u.as_object_mut() {
        map.remove("services");
        if !info {
            map.remove("utcOffset");
        }
    }
    u
}

/// Rocket.Chat's paging: `offset`, `count` (default 50, capped at 100), `sort` a JSON object
/// of 1/-1; `count` in the answer is the page's size, or the requested count when `echo`.
/// Ties of the sort come in an order that depends on `seed` (MongoDB guarantees none).
fn list(
    mut docs: Vec<Value>,
    params: &HashMap<String, String>,
    name: &str,
    default_sort: Option<Value>,
    echo: bool,
    seed: u64,
) -> Response {
    let offset: usize = params
        .get("offset")
        .and_then(|o| o.parse().ok())
        .unwrap_or(0);
    let count: usize = params
        .get("count")
        .and_then(|c| c.parse().ok())
        .unwrap_or(50)
        .min(UPPER_COUNT_LIMIT);
    // MongoDB sorts by the sort object's keys in the order written.
    let default_sort: Option<Vec<(String, Value)>> = default_sort.map(|v| match v {
        Value::Object(map) => map.into_iter().collect(),
        _ => Vec::new(),
    });
    let sort = match params.get("sort") {
        Some(text) => match serde_json::from_str::<OrderedMap>(text) {
            Ok(OrderedMap(keys)) if keys.iter().all(|(_, v)| *v == 1 || *v == -1) => Some(keys),
            _ => {
                return error(
                    400,
                    json!({"success":false,"error":"Invalid sort parameter provided: \"{text}\" [error-invalid-sort]","errorType":"error-invalid-sort"}),
                )
            }
        },
        None => default_sort,
    };
    if let Some(sort) = &sort {
        docs.sort_by(|a, b| {
            for (field, dir) in sort {
                let ord = compare(&a[field], &b[field]);
                let ord = if dir == -1 { ord.reverse() } else { ord };
                if ord.is_ne() {
                    return ord;
                }
            }
            tie_rank(&a["_id"], seed).cmp(&tie_rank(&b["_id"], seed))
        });
    }
    let total = docs.len();
    let page: Vec<Value> = docs.into_iter().skip(offset).take(count).collect();
    let shown = if echo { count } else { page.len() };
    ok(json!({name: page, "count": shown, "offset": offset, "total": total, "success": true}))
}

/// A JSON object's keys in the order written (`serde_json::Map` sorts them).
struct OrderedMap(Vec<(String, Value)>);

impl<'de> serde::Deserialize<'de> for OrderedMap {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Keys;
        impl<'de> serde::de::Visitor<'de> for Keys {
            type Value = OrderedMap;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut m: A,
            ) -> Result<OrderedMap, A::Error> {
                let mut keys = Vec::new();
                while let Some(entry) = m.next_entry::<String, Value>()? {
                    keys.push(entry);
                }
                Ok(OrderedMap(keys))
            }
        }
        d.deserialize_map(Keys)
    }
}

/// An order among ties that changes from one request to the next.
fn tie_rank(id: &Value, seed: u64) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    id.to_string().hash(&mut h);
    seed.hash(&mut h);
    h.finish()
}

fn compare(a: &Value, b: &Value) -> std::cmp::Ordering {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => x
            .as_f64()
            .partial_cmp(&y.as_f64())
            .unwrap_or(std::cmp::Ordering::Equal),
        (Value::String(x), Value::String(y)) => x.cmp(y),
        (Value::Null, Value::Null) => std::cmp::Ordering::Equal,
        (Value::Null, _) => std::cmp::Ordering::Less,
        (_, Value::Null) => std::cmp::Ordering::Greater,
        _ => a.to_string().cmp(&b.to_string()),
    }
}

/// Not a test: serves a fixture workspace for a demonstration of `agent-overview-admin sync`
/// (README, "Sync from Rocket.Chat"), on `RC_STANDIN_PORT` (default 3900), until Ctrl-C or
/// `RC_STANDIN_MINUTES` (default 30) pass.
#[tokio::test]
#[ignore = "a demonstration server, run on purpose"]
async fn serve_the_standin_for_a_demo() {
    let port: u16 = std::env::var("RC_STANDIN_PORT")
        .ok()
        .and_then(|p| p.parse().ok())
        .unwrap_or(3900);
    let minutes: u64 = std::env::var("RC_STANDIN_MINUTES")
        .ok()
        .and_then(|m| m.parse().ok())
        .unwrap_or(30);
    let dir = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/rocketchat-export/custom-zone-relaxed");
    let listener = TcpListener::bind(("127.0.0.1", port))
        .await
        .expect("the port is free");
    let shared = Arc::new(Mutex::new(Shared {
        workspace: Workspace::from_export(&dir),
        ..Shared::default()
    }));
    println!("Rocket.Chat stand-in on http://127.0.0.1:{port}  user id {USER_ID}  token {TOKEN}");
    let accepting = async {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                return;
            };
            tokio::spawn(serve(stream, shared.clone()));
        }
    };
    let _ = tokio::time::timeout(std::time::Duration::from_secs(minutes * 60), accepting).await;
}
