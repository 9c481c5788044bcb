//! Matching: [`Router::dispatch`] and its lookups in the static and dynamic tables, apart
//! from registration, which only fills those tables.

use std::sync::Arc;

use http::Method;
use regex::RegexSet;

use super::{Dispatched, Found, Params, Router};

impl Router {
    /// Routes `method` and `path` (FastRoute's order: static routes, then dynamic ones, then
    /// `HEAD` falls back to `GET`; a path known for other methods is "method not allowed").
    pub fn dispatch(&self, method: &Method, path: &str) -> Dispatched {
        if let Some(found) = self.find(method, path) {
            return Dispatched::Found(found);
        }
        if *method == Method::HEAD {
            if let Some(found) = self.find(&Method::GET, path) {
                return Dispatched::Found(found);
            }
        }
        let allowed = self.allowed(path);
        if allowed.is_empty() {
            Dispatched::NotFound
        } else {
            Dispatched::MethodNotAllowed { allowed }
        }
    }

    fn find(&self, method: &Method, path: &str) -> Option<Found> {
        if let Some(candidates) = self.statics.get(path) {
            if let Some((_, index)) = candidates.iter().find(|(m, _)| m == method) {
                return Some(self.found(*index, Params::default()));
            }
        }
        if self.dynamics.is_empty() {
            return None;
        }
        for candidate in self.dynamic_set().matches(path).iter() {
            let dynamic = &self.dynamics[candidate];
            if dynamic.method != *method {
                continue;
            }
            let captures = dynamic.regex.captures(path)?;
            let entries = dynamic
                .names
                .iter()
                .zip(&dynamic.groups)
                .filter_map(|(name, group)| {
                    let value = captures.name(group)?;
                    Some((Arc::clone(name), value.as_str().to_string()))
                })
                .collect();
            return Some(self.found(dynamic.route, Params { entries }));
        }
        None
    }

    fn found(&self, index: usize, params: Params) -> Found {
        Found {
            route: Arc::clone(&self.routes[index]),
            index,
            params,
        }
    }

    fn allowed(&self, path: &str) -> Vec<Method> {
        let mut allowed: Vec<Method> = Vec::new();
        let mut add = |method: &Method| {
            if !allowed.contains(method) {
                allowed.push(method.clone());
            }
        };
        if let Some(candidates) = self.statics.get(path) {
            candidates.iter().for_each(|(m, _)| add(m));
        }
        if !self.dynamics.is_empty() {
            for candidate in self.dynamic_set().matches(path).iter() {
                add(&self.dynamics[candidate].method);
            }
        }
        allowed
    }

    pub(super) fn dynamic_match(&self, method: &Method, path: &str) -> Option<usize> {
        self.dynamics
            .iter()
            .find(|d| d.method == *method && d.regex.is_match(path))
            .map(|d| d.route)
    }

    pub(super) fn dynamic_set(&self) -> &RegexSet {
        self.dynamic_set.get_or_init(|| {
            RegexSet::new(self.dynamics.iter().map(|d| d.regex.as_str()))
                .expect("every pattern compiled alone")
        })
    }
}
