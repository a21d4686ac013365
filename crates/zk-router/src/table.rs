//! The route table: a rule compiled against the current endpoints, with every
//! destination's endpoint list and policy state built in advance. A table is immutable;
//! the router swaps in a new one when the rule or the endpoints change, so a pick reads
//! one table without locks.

use std::sync::Arc;

use crate::endpoint::{Endpoint, Picked};
use crate::matcher::{Matcher, RequestContext};
use crate::policy::{self, Pick, Rng};
use crate::rule::{Fallback, Policy, Rule};

/// Why no endpoint was picked.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RouteError {
    /// The service has no instance at all.
    #[error("service {0} has no instances")]
    NoInstances(String),
    /// The matching route's destinations are empty and its fallback is `fail`.
    #[error("route {route} of service {service} has no instance in its destinations")]
    EmptyDestination {
        /// The service.
        service: String,
        /// The route's name or index.
        route: String,
    },
}

#[derive(Debug)]
struct Destination {
    endpoints: Vec<Arc<Endpoint>>,
    weight: u64,
    picker: Box<dyn Pick>,
}

#[derive(Debug)]
struct CompiledRoute {
    name: String,
    matcher: Matcher,
    destinations: Vec<Destination>,
    fallback: Fallback,
}

/// A compiled rule over a set of endpoints.
#[derive(Debug)]
pub struct RouteTable {
    service: String,
    routes: Vec<CompiledRoute>,
    all: Vec<Arc<Endpoint>>,
    all_picker: Box<dyn Pick>,
}

impl RouteTable {
    /// Compiles `rule` (or default routing, without one) over `endpoints`.
    pub fn new(service: &str, rule: Option<&Rule>, endpoints: Vec<Arc<Endpoint>>) -> Self {
        let routes = rule
            .map(|r| {
                r.routes
                    .iter()
                    .enumerate()
                    .filter_map(|(i, route)| {
                        let destinations: Vec<Destination> = route
                            .destinations
                            .iter()
                            .map(|d| {
                                let members: Vec<Arc<Endpoint>> = endpoints
                                    .iter()
                                    .filter(|e| e.in_subset(&d.subset))
                                    .cloned()
                                    .collect();
                                Destination {
                                    picker: policy::build(&route.policy, &members),
                                    endpoints: members,
                                    weight: d.weight as u64,
                                }
                            })
                            .collect();
                        Some(CompiledRoute {
                            name: route.name.clone().unwrap_or_else(|| format!("routes[{i}]")),
                            matcher: Matcher::compile(&route.matches)?,
                            destinations,
                            fallback: route.fallback,
                        })
                    })
                    .collect()
            })
            .unwrap_or_default();
        Self {
            service: service.to_owned(),
            routes,
            all_picker: policy::build(&Policy::RoundRobin, &endpoints),
            all: endpoints,
        }
    }

    /// Every endpoint of the service.
    pub fn endpoints(&self) -> &[Arc<Endpoint>] {
        &self.all
    }

    /// Picks the endpoint for a request.
    pub fn route(&self, ctx: &RequestContext, rng: &Rng) -> Result<Picked, RouteError> {
        for route in &self.routes {
            if !route.matcher.matches(ctx) {
                continue;
            }
            if let Some(e) = route.pick(ctx, rng) {
                return Ok(Picked::new(e));
            }
            match route.fallback {
                Fallback::NextRoute => continue,
                Fallback::AnyInstance => return self.any(ctx, rng),
                Fallback::Fail => {
                    return Err(RouteError::EmptyDestination {
                        service: self.service.clone(),
                        route: route.name.clone(),
                    })
                }
            }
        }
        self.any(ctx, rng)
    }

    fn any(&self, ctx: &RequestContext, rng: &Rng) -> Result<Picked, RouteError> {
        if self.all.is_empty() {
            return Err(RouteError::NoInstances(self.service.clone()));
        }
        let i = self.all_picker.pick(&self.all, ctx, rng);
        Ok(Picked::new(self.all[i].clone()))
    }
}

impl CompiledRoute {
    /// A weighted draw among the destinations; an empty one hands its share to the others.
    fn pick(&self, ctx: &RequestContext, rng: &Rng) -> Option<Arc<Endpoint>> {
        let available: u64 = self
            .destinations
            .iter()
            .filter(|d| !d.endpoints.is_empty())
            .map(|d| d.weight)
            .sum();
        if available == 0 {
            return None;
        }
        let mut x = rng.next_u64() % available;
        for d in self.destinations.iter().filter(|d| !d.endpoints.is_empty()) {
            if x < d.weight {
                let i = d.picker.pick(&d.endpoints, ctx, rng);
                return d.endpoints.get(i).cloned();
            }
            x -= d.weight;
        }
        None
    }
}
