//! A small router: method + path pattern → handler, chosen on the request's head so a
//! streaming route can get the body unread.

use crate::http::{decode, read_body};
use crate::{
    ACTIONS_PATH, ActionEvent, BodyReader, Handler, IntoResponse, Method, Request, Response,
    Streaming,
};

/// Routes requests by method and path pattern.
///
/// Patterns are `/`-separated segments: a literal (`quotes`), a parameter (`:id`, any one
/// segment, read with [`Request::param`]) or, last, a rest parameter (`*path`, the remaining
/// segments, possibly none). Empty segments are ignored, so `/quotes/` matches `/quotes`.
/// Routes are tried in the order they were added; `HEAD` requests match `GET` routes. When
/// nothing matches, the fallback answers: 404 `{"error": "not found"}` unless set with
/// [`fallback`](Router::fallback).
///
/// A route's handler gets the whole body in [`Request::body`]; one added with
/// [`post_stream`](Router::post_stream), [`put_stream`](Router::put_stream) or
/// [`route_stream`](Router::route_stream) gets it unread, as a [`BodyReader`]. The route is
/// chosen before the body is read either way.
///
/// ```no_run
/// use micro_space::{Request, Response, Router, json};
///
/// fn quote(request: Request) -> Response {
///     match request.param("id").map(str::parse::<i64>) {
///         Some(Ok(id)) => Response::json(200, &json!({ "id": id })),
///         _ => Response::error(400, "bad id"),
///     }
/// }
///
/// fn app(request: Request) -> Response {
///     Router::new()
///         .get("/quotes/:id", quote)
///         .post("/quotes", |req: Request| Response::text(201, format!("{} bytes", req.body.len())))
///         .get("/files/*path", |req: Request| {
///             Response::text(200, req.param("path").unwrap_or("").to_string())
///         })
///         .handle(request)
/// }
///
/// micro_space::export!(app);
/// ```
pub struct Router {
    routes: Vec<Route>,
    action: Option<Box<dyn Fn(ActionEvent) -> Response>>,
    fallback: Box<dyn Handler>,
}

struct Route {
    method: Method,
    pattern: Vec<Segment>,
    handler: Box<dyn Handler>,
}

#[derive(Debug, PartialEq)]
enum Segment {
    Literal(String),
    Param(String),
    Rest(String),
}

impl Default for Router {
    fn default() -> Self {
        Router::new()
    }
}

impl Router {
    /// A router with no routes: everything is 404 `{"error": "not found"}`.
    pub fn new() -> Self {
        Router {
            routes: Vec::new(),
            action: None,
            fallback: Box::new(|_: Request| Response::not_found()),
        }
    }

    /// Adds a route for `method` and `pattern`.
    ///
    /// # Panics
    ///
    /// If a `*rest` segment is not the last one.
    pub fn route<F, R>(self, method: Method, pattern: &str, handler: F) -> Self
    where
        F: Fn(Request) -> R + 'static,
        R: IntoResponse,
    {
        self.push(method, pattern, Box::new(handler))
    }

    /// Adds a route for `method` and `pattern` whose handler takes the body unread: `Fn(Request,
    /// BodyReader) -> impl IntoResponse`, as [`Streaming`] describes.
    ///
    /// # Panics
    ///
    /// If a `*rest` segment is not the last one.
    pub fn route_stream<F, R>(self, method: Method, pattern: &str, handler: F) -> Self
    where
        F: Fn(Request, BodyReader) -> R + 'static,
        R: IntoResponse,
    {
        self.push(method, pattern, Box::new(Streaming(handler)))
    }

    fn push(mut self, method: Method, pattern: &str, handler: Box<dyn Handler>) -> Self {
        self.routes.push(Route {
            method,
            pattern: parse_pattern(pattern),
            handler,
        });
        self
    }

    /// Adds a `GET` (and `HEAD`) route.
    pub fn get<F, R>(self, pattern: &str, handler: F) -> Self
    where
        F: Fn(Request) -> R + 'static,
        R: IntoResponse,
    {
        self.route(Method::Get, pattern, handler)
    }

    /// Adds a `POST` route.
    pub fn post<F, R>(self, pattern: &str, handler: F) -> Self
    where
        F: Fn(Request) -> R + 'static,
        R: IntoResponse,
    {
        self.route(Method::Post, pattern, handler)
    }

    /// Adds a `POST` route that reads the body as it arrives, from a [`BodyReader`]: an
    /// upload of any size needs memory for one piece of it at a time (up to 1 MiB).
    ///
    /// ```no_run
    /// use std::io::Write;
    /// use micro_space::{BodyReader, Request, Response, Router, json};
    ///
    /// fn upload(request: Request, mut body: BodyReader) -> std::io::Result<Response> {
    ///     let name = request.param("name").unwrap_or("upload");
    ///     let mut file = std::fs::File::create(format!("/tmp/{name}"))?;
    ///     let size = body.copy_to(&mut file)?;
    ///     file.flush()?;
    ///     Ok(Response::json(201, &json!({ "size": size })))
    /// }
    ///
    /// micro_space::export!(Router::new().post_stream("/files/:name", upload).get(
    ///     "/files/:name",
    ///     |request: Request| {
    ///         let path = format!("/tmp/{}", request.param("name").unwrap_or(""));
    ///         Response::file(200, "application/octet-stream", path)
    ///     },
    /// ));
    /// ```
    pub fn post_stream<F, R>(self, pattern: &str, handler: F) -> Self
    where
        F: Fn(Request, BodyReader) -> R + 'static,
        R: IntoResponse,
    {
        self.route_stream(Method::Post, pattern, handler)
    }

    /// Adds a `PUT` route that reads the body as it arrives (see
    /// [`post_stream`](Router::post_stream)).
    pub fn put_stream<F, R>(self, pattern: &str, handler: F) -> Self
    where
        F: Fn(Request, BodyReader) -> R + 'static,
        R: IntoResponse,
    {
        self.route_stream(Method::Put, pattern, handler)
    }

    /// Adds a `PUT` route.
    pub fn put<F, R>(self, pattern: &str, handler: F) -> Self
    where
        F: Fn(Request) -> R + 'static,
        R: IntoResponse,
    {
        self.route(Method::Put, pattern, handler)
    }

    /// Adds a `PATCH` route.
    pub fn patch<F, R>(self, pattern: &str, handler: F) -> Self
    where
        F: Fn(Request) -> R + 'static,
        R: IntoResponse,
    {
        self.route(Method::Patch, pattern, handler)
    }

    /// Adds a `DELETE` route.
    pub fn delete<F, R>(self, pattern: &str, handler: F) -> Self
    where
        F: Fn(Request) -> R + 'static,
        R: IntoResponse,
    {
        self.route(Method::Delete, pattern, handler)
    }

    /// Handles the runtime's scheduled actions: `POST /__space/v0/actions` with
    /// `{"event": {"id": ..., "trigger": ...}}`, parsed into an [`ActionEvent`]. A body that
    /// is not such an event gets 400 `{"error": "bad action event", "message": ...}`.
    ///
    /// Answer with a status below 400 for a successful run.
    ///
    /// ```no_run
    /// use micro_space::{Response, Router, json};
    ///
    /// micro_space::export!(Router::new().action(|event| {
    ///     println!("run {} ({})", event.id, event.trigger);
    ///     Response::json(200, &json!({ "ok": true }))
    /// }));
    /// ```
    pub fn action<F, R>(mut self, handler: F) -> Self
    where
        F: Fn(ActionEvent) -> R + 'static,
        R: IntoResponse,
    {
        self.action = Some(Box::new(move |event| handler(event).into_response()));
        self
    }

    /// Replaces the 404 answer given when no route matches.
    pub fn fallback<F, R>(mut self, handler: F) -> Self
    where
        F: Fn(Request) -> R + 'static,
        R: IntoResponse,
    {
        self.fallback = Box::new(handler);
        self
    }

    /// Answers a request: the action hook, else the first matching route, else the fallback.
    /// A streaming route gets `request.body` through its [`BodyReader`].
    pub fn handle(&self, mut request: Request) -> Response {
        let body = BodyReader::from(std::mem::take(&mut request.body));
        self.handle_with_body(request, body)
    }

    /// Answers a request whose body is not read yet (`request.body` is empty): a streaming
    /// route gets `body` as it is; the action hook, the other routes and the fallback get it
    /// read into `request.body` first. What [`export!`](crate::export) calls.
    pub fn handle_with_body(&self, mut request: Request, body: BodyReader) -> Response {
        if let Some(action) = &self.action
            && request.method == Method::Post
            && request.path == ACTIONS_PATH
        {
            if let Err(response) = read_body(&mut request, body) {
                return response;
            }
            return match ActionEvent::from_json(&request.body) {
                Ok(event) => action(event),
                Err(e) => Response::json(
                    400,
                    &serde_json::json!({ "error": "bad action event", "message": e.to_string() }),
                ),
            };
        }
        let segments: Vec<String> = request
            .path
            .split('/')
            .filter(|s| !s.is_empty())
            .map(|s| decode(s, false).into_owned())
            .collect();
        for route in &self.routes {
            let method_matches = route.method == request.method
                || (route.method == Method::Get && request.method == Method::Head);
            if !method_matches {
                continue;
            }
            if let Some(params) = match_pattern(&route.pattern, &segments) {
                request.params = params;
                return route.handler.call_with_body(request, body);
            }
        }
        self.fallback.call_with_body(request, body)
    }
}

fn parse_pattern(pattern: &str) -> Vec<Segment> {
    let segments: Vec<Segment> = pattern
        .split('/')
        .filter(|s| !s.is_empty())
        .map(|s| {
            if let Some(name) = s.strip_prefix(':') {
                Segment::Param(name.to_string())
            } else if let Some(name) = s.strip_prefix('*') {
                Segment::Rest(name.to_string())
            } else {
                Segment::Literal(s.to_string())
            }
        })
        .collect();
    let rest_inside = segments
        .iter()
        .rev()
        .skip(1)
        .any(|s| matches!(s, Segment::Rest(_)));
    assert!(
        !rest_inside,
        "route {pattern:?}: a `*rest` segment must be the last one"
    );
    segments
}

/// The parameters, if `segments` match `pattern`.
fn match_pattern(pattern: &[Segment], segments: &[String]) -> Option<Vec<(String, String)>> {
    let mut params = Vec::new();
    for (i, part) in pattern.iter().enumerate() {
        match part {
            Segment::Rest(name) => {
                let rest = segments.get(i..).unwrap_or_default().join("/");
                params.push((name.clone(), rest));
                return Some(params);
            }
            Segment::Literal(literal) => {
                if segments.get(i) != Some(literal) {
                    return None;
                }
            }
            Segment::Param(name) => params.push((name.clone(), segments.get(i)?.clone())),
        }
    }
    (segments.len() == pattern.len()).then_some(params)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn router() -> Router {
        let echo = |req: Request| {
            let params: Vec<String> = req.params.iter().map(|(n, v)| format!("{n}={v}")).collect();
            Response::text(200, format!("{} {}", req.method, params.join(",")))
        };
        Router::new()
            .get("/", echo)
            .get("/quotes", echo)
            .get("/quotes/:id", echo)
            .post("/quotes", echo)
            .get("/files/*path", echo)
            .post_stream("/upload/:name", |req: Request, mut body: BodyReader| {
                let mut bytes = Vec::new();
                body.copy_to(&mut bytes).unwrap();
                let line = format!(
                    "{} {} {}",
                    req.param("name").unwrap(),
                    req.body.len(),
                    bytes.len()
                );
                Response::text(200, line)
            })
            .action(|event| Response::text(200, format!("{} {}", event.id, event.trigger)))
    }

    fn text(router: &Router, method: Method, target: &str) -> (u16, String) {
        let response = router.handle(Request::new(method, target));
        (response.status, String::from_utf8(response.body).unwrap())
    }

    #[test]
    fn routes() {
        let r = router();
        assert_eq!(text(&r, Method::Get, "/"), (200, "GET ".into()));
        assert_eq!(text(&r, Method::Get, "/quotes/"), (200, "GET ".into()));
        assert_eq!(text(&r, Method::Head, "/quotes"), (200, "HEAD ".into()));
        assert_eq!(text(&r, Method::Post, "/quotes"), (200, "POST ".into()));
        assert_eq!(
            text(&r, Method::Get, "/quotes/7?x=1"),
            (200, "GET id=7".into())
        );
        assert_eq!(
            text(&r, Method::Get, "/quotes/a%20b"),
            (200, "GET id=a b".into())
        );
        assert_eq!(text(&r, Method::Get, "/files"), (200, "GET path=".into()));
        assert_eq!(
            text(&r, Method::Get, "/files/a/b"),
            (200, "GET path=a/b".into())
        );
        let not_found = (404, r#"{"error":"not found"}"#.to_string());
        assert_eq!(text(&r, Method::Get, "/quotes/7/x"), not_found);
        assert_eq!(text(&r, Method::Delete, "/quotes"), not_found);
        assert_eq!(text(&r, Method::Get, "/nope"), not_found);
    }

    #[test]
    fn actions() {
        let r = router();
        let mut request = Request::new(Method::Post, ACTIONS_PATH);
        request.body = br#"{"event":{"id":"tick","trigger":"schedule"}}"#.to_vec();
        let response = r.handle(request);
        assert_eq!(response.body, b"tick schedule");
        let mut request = Request::new(Method::Post, ACTIONS_PATH);
        request.body = b"{}".to_vec();
        assert_eq!(r.handle(request).status, 400);
        // Without an action hook, the path is like any other.
        let response = Router::new().handle(Request::new(Method::Post, ACTIONS_PATH));
        assert_eq!(response.status, 404);
    }

    #[test]
    fn streaming_routes_read_the_body() {
        let r = router();
        // Buffered (as in a test): the route reads that body, not `request.body`.
        let mut request = Request::new(Method::Post, "/upload/a");
        request.body = vec![1; 3000];
        assert_eq!(r.handle(request).body, b"a 0 3000");
        // Unread: the reader reaches the route as it is.
        let body = BodyReader::from(vec![2; 5]);
        let response = r.handle_with_body(Request::new(Method::Post, "/upload/b"), body);
        assert_eq!(response.body, b"b 0 5");
        // Other routes get it read: the action hook parses it.
        let event = br#"{"event":{"id":"tick","trigger":"schedule"}}"#.to_vec();
        let response = r.handle_with_body(
            Request::new(Method::Post, ACTIONS_PATH),
            BodyReader::from(event),
        );
        assert_eq!(response.body, b"tick schedule");
        let echo = |req: Request| Response::new(200).with_header("n", &req.body.len().to_string());
        let response = Router::new().post("/", echo).handle_with_body(
            Request::new(Method::Post, "/"),
            BodyReader::from(vec![0; 9]),
        );
        assert_eq!(response.header("n"), Some("9"));
    }

    #[test]
    #[should_panic(expected = "must be the last one")]
    fn rest_must_be_last() {
        let _ = Router::new().get("/a/*rest/b", |_| Response::new(200));
    }
}
