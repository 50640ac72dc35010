//! Routing calls to handlers by path, shared by both adapters' servers.
//! The handler type is the adapter's (an async function for the async
//! adapter, a blocking one for the std adapter); what a route is, and what
//! the server answers for an unknown one, is decided here once.

use std::collections::HashMap;

use crate::call::CallKind;
use crate::grpc::{Code, Status};

/// A registered method: its kind (so that message counts are enforced) and
/// the adapter's handler.
#[derive(Debug, Clone)]
pub struct Route<H> {
    /// The method's kind.
    pub kind: CallKind,
    /// The handler.
    pub handler: H,
}

/// Methods by full path (`/package.Service/Method`).
#[derive(Debug, Clone)]
pub struct Router<H> {
    routes: HashMap<String, Route<H>>,
    services: HashMap<String, usize>,
}

impl<H> Default for Router<H> {
    fn default() -> Self {
        Router {
            routes: HashMap::new(),
            services: HashMap::new(),
        }
    }
}

impl<H> Router<H> {
    /// An empty router.
    pub fn new() -> Self {
        Self::default()
    }

    /// Register `handler` for `/service/method`. A second registration of
    /// the same path replaces the first.
    ///
    /// # Panics
    ///
    /// If `service` or `method` is empty or holds a `/`: they are names
    /// (`"helloworld.Greeter"`, `"SayHello"`), and a route made of a path
    /// could never be reached. This is the application's configuration,
    /// never a peer's input.
    pub fn add(&mut self, service: &str, method: &str, kind: CallKind, handler: H) -> &mut Self {
        assert!(
            !service.is_empty() && !service.contains('/'),
            "service {service:?}: a name such as \"package.Service\", not a path"
        );
        assert!(
            !method.is_empty() && !method.contains('/'),
            "method {method:?}: a name such as \"SayHello\", not a path"
        );
        let path = format!("/{service}/{method}");
        if self.routes.insert(path, Route { kind, handler }).is_none() {
            *self.services.entry(service.to_string()).or_insert(0) += 1;
        }
        self
    }

    /// The route for `path`, or the UNIMPLEMENTED status gRPC servers
    /// answer (naming the unknown service or method).
    pub fn route(&self, path: &str) -> Result<&Route<H>, Status> {
        if let Some(r) = self.routes.get(path) {
            return Ok(r);
        }
        let (service, method) = path
            .strip_prefix('/')
            .and_then(|p| p.split_once('/'))
            .unwrap_or(("", path));
        let message = if self.services.contains_key(service) {
            format!("unknown method {method} for service {service}")
        } else {
            format!("unknown service {service}")
        };
        Err(Status::new(Code::Unimplemented, message))
    }

    /// Registered service names (for reflection and health).
    pub fn services(&self) -> impl Iterator<Item = &str> {
        self.services.keys().map(String::as_str)
    }

    /// Number of registered methods.
    pub fn len(&self) -> usize {
        self.routes.len()
    }

    /// Whether no method is registered.
    pub fn is_empty(&self) -> bool {
        self.routes.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_service_and_method_are_unimplemented() {
        let mut r = Router::new();
        r.add("helloworld.Greeter", "SayHello", CallKind::Unary, 1u8);
        assert_eq!(r.route("/helloworld.Greeter/SayHello").unwrap().handler, 1);
        let e = r.route("/helloworld.Greeter/Nope").unwrap_err();
        assert_eq!(e.code(), Code::Unimplemented);
        assert_eq!(
            e.message(),
            "unknown method Nope for service helloworld.Greeter"
        );
        let e = r.route("/x.Y/Z").unwrap_err();
        assert_eq!(e.message(), "unknown service x.Y");
        assert_eq!(r.services().collect::<Vec<_>>(), vec!["helloworld.Greeter"]);
    }

    #[test]
    #[should_panic(expected = "not a path")]
    fn a_service_given_as_a_path_is_refused() {
        Router::new().add("/helloworld.Greeter", "SayHello", CallKind::Unary, 1u8);
    }

    #[test]
    #[should_panic(expected = "not a path")]
    fn a_method_given_as_a_path_is_refused() {
        Router::new().add("helloworld.Greeter", "SayHello/", CallKind::Unary, 1u8);
    }

    #[test]
    #[should_panic(expected = "not a path")]
    fn an_empty_method_is_refused() {
        Router::new().add("helloworld.Greeter", "", CallKind::Unary, 1u8);
    }
}
