//! A router that remembers its route patterns, so the access rules can be checked against
//! every route (`crate::route_patterns`): axum's router cannot list its routes.

use axum::routing::MethodRouter;
use axum::Router;

/// A [`Router`] and the patterns of its routes.
pub struct Routes<S> {
    router: Router<S>,
    patterns: Vec<String>,
}

impl<S: Clone + Send + Sync + 'static> Default for Routes<S> {
    fn default() -> Self {
        Routes {
            router: Router::new(),
            patterns: Vec::new(),
        }
    }
}

impl<S: Clone + Send + Sync + 'static> Routes<S> {
    /// No routes yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds `pattern` with its handlers.
    pub fn route(mut self, pattern: &str, handlers: MethodRouter<S>) -> Self {
        self.router = self.router.route(pattern, handlers);
        self.patterns.push(pattern.to_string());
        self
    }

    /// Adds every route of `other`.
    pub fn merge(mut self, other: Routes<S>) -> Self {
        self.router = self.router.merge(other.router);
        self.patterns.extend(other.patterns);
        self
    }

    /// Gives the routes their state, for merging into a router of state `T`.
    pub fn with_state<T: Clone + Send + Sync + 'static>(self, state: S) -> Routes<T> {
        Routes {
            router: self.router.with_state(state),
            patterns: self.patterns,
        }
    }

    /// The routes with `f` applied to the router (a layer over every route so far).
    pub fn map_router(mut self, f: impl FnOnce(Router<S>) -> Router<S>) -> Self {
        self.router = f(self.router);
        self
    }

    /// The router and the patterns.
    pub fn into_parts(self) -> (Router<S>, Vec<String>) {
        (self.router, self.patterns)
    }
}
