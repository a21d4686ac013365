//! The route table: a rule compiled against the current endpoints, with every
//! destination's endpoint list and policy state built in advance. A table is immutable;
//! the router swaps in a new one when the rule or the endpoints change, so a pick reads
//! one table without locks.

use std::sync::Arc;

use crate::endpoint::{Endpoint, Picked};
use crate::health::HealthPolicy;
use crate::load::{LoadView, Loads};
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

/// One step of a table's decision for a request ([`RouteTable::explain`]). Routes and
/// destinations are named by their index in the rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Step {
    /// The route's conditions do not match the request.
    NoMatch {
        /// The route's index in the rule.
        route: usize,
    },
    /// The route matches and drew a destination (by weight, among those with endpoints).
    Drew {
        /// The route's index in the rule.
        route: usize,
        /// The destination's index in the route.
        destination: usize,
        /// The destination's weight…
        weight: u64,
        /// …out of the summed weight of the route's destinations that have endpoints.
        of: u64,
    },
    /// The route matches, but none of its destinations has an endpoint: its fallback
    /// decides.
    Empty {
        /// The route's index in the rule.
        route: usize,
        /// What it falls back to.
        fallback: Fallback,
    },
    /// No route took the request: every endpoint, round robin.
    Default,
}

/// How a table routed one request ([`RouteTable::explain`]).
#[derive(Debug)]
pub struct Explanation {
    /// The steps, in order.
    pub steps: Vec<Step>,
    /// The pick (hold or report it as with [`RouteTable::route`]).
    pub picked: Result<Picked, RouteError>,
}

#[derive(Debug)]
struct Destination {
    endpoints: Vec<Arc<Endpoint>>,
    weight: u64,
    picker: Box<dyn Pick>,
    /// The loads of bounded-load hashing, counted by the guard of each pick.
    load: Option<Arc<LoadView>>,
}

#[derive(Debug)]
struct CompiledRoute {
    /// Its index in the rule (a route whose conditions do not compile has no compiled
    /// form, so indices here and in the rule may differ).
    index: usize,
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
    health: Option<Arc<HealthPolicy>>,
}

impl RouteTable {
    /// Compiles `rule` (or default routing, without one) over `endpoints`, with passive
    /// health checking when `health` is given.
    ///
    /// Bounded-load hashing counts the loads of this table alone, from zero; a
    /// [`crate::Router`] keeps them across its tables instead, so requests that run while
    /// it swaps tables still count.
    pub fn new(
        service: &str,
        rule: Option<&Rule>,
        endpoints: Vec<Arc<Endpoint>>,
        health: Option<Arc<HealthPolicy>>,
        offset: usize,
    ) -> Self {
        Self::with_loads(service, rule, endpoints, health, offset, &Loads::default())
    }

    /// Like [`RouteTable::new`], with bounded-load hashing counting in `loads`.
    pub(crate) fn with_loads(
        service: &str,
        rule: Option<&Rule>,
        endpoints: Vec<Arc<Endpoint>>,
        health: Option<Arc<HealthPolicy>>,
        offset: usize,
        loads: &Loads,
    ) -> Self {
        // Held until the table is built: endpoints no destination names any more leave
        // their groups when it is dropped.
        let mut groups = loads.rebuild();
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
                                let load = matches!(
                                    route.policy,
                                    Policy::ConsistentHash {
                                        bounded_load: Some(_),
                                        ..
                                    }
                                )
                                .then(|| {
                                    Arc::new(groups.view(
                                        &d.subset,
                                        &members,
                                        policy::on_ring(&members),
                                    ))
                                });
                                Destination {
                                    picker: policy::build_with_load(
                                        &route.policy,
                                        &members,
                                        offset,
                                        load.clone(),
                                    ),
                                    endpoints: members,
                                    weight: d.weight as u64,
                                    load,
                                }
                            })
                            .collect();
                        Some(CompiledRoute {
                            index: i,
                            name: route.name.clone().unwrap_or_else(|| format!("routes[{i}]")),
                            matcher: Matcher::compile(&route.matches)?,
                            destinations,
                            fallback: route.fallback,
                        })
                    })
                    .collect()
            })
            .unwrap_or_default();
        drop(groups);
        Self {
            service: service.to_owned(),
            routes,
            all_picker: policy::build(&Policy::RoundRobin, &endpoints, offset),
            all: endpoints,
            health,
        }
    }

    /// Every endpoint of the service.
    pub fn endpoints(&self) -> &[Arc<Endpoint>] {
        &self.all
    }

    /// Picks the endpoint for a request.
    pub fn route(&self, ctx: &RequestContext, rng: &Rng) -> Result<Picked, RouteError> {
        self.decide(ctx, rng, None)
    }

    /// Routes a request as [`RouteTable::route`] does, and says why: every route passed
    /// over or taken, the destination drawn, the fallback followed.
    pub fn explain(&self, ctx: &RequestContext, rng: &Rng) -> Explanation {
        let mut steps = Vec::new();
        let picked = self.decide(ctx, rng, Some(&mut steps));
        Explanation { steps, picked }
    }

    /// The endpoints of destination `destination` of the rule's route `route`, as this
    /// table holds them (`None` for a route or destination it does not have).
    pub fn destination_endpoints(
        &self,
        route: usize,
        destination: usize,
    ) -> Option<&[Arc<Endpoint>]> {
        let route = self.routes.iter().find(|r| r.index == route)?;
        Some(&route.destinations.get(destination)?.endpoints)
    }

    /// The walk behind [`RouteTable::route`] and [`RouteTable::explain`], noting each step
    /// in `steps` when given: one code path, so an explanation cannot drift from what
    /// routing does. A pick (`None`) pays a branch per route, nothing more.
    fn decide(
        &self,
        ctx: &RequestContext,
        rng: &Rng,
        mut steps: Option<&mut Vec<Step>>,
    ) -> Result<Picked, RouteError> {
        let mut note = |step: &dyn Fn() -> Step| {
            if let Some(steps) = steps.as_deref_mut() {
                steps.push(step());
            }
        };
        for route in &self.routes {
            if !route.matcher.matches(ctx) {
                note(&|| Step::NoMatch { route: route.index });
                continue;
            }
            if let Some((destination, i, d)) = route.pick(ctx, rng, self.health.as_deref()) {
                note(&|| Step::Drew {
                    route: route.index,
                    destination,
                    weight: d.weight,
                    of: route.available_weight(),
                });
                let (health, timed) = (self.health.as_deref().cloned(), d.picker.needs_latency());
                return Ok(match d.load.as_ref().and_then(|l| l.slot(i)) {
                    Some(slot) => Picked::in_group(slot.clone(), health, timed),
                    None => Picked::new(d.endpoints[i].clone(), health, timed),
                });
            }
            note(&|| Step::Empty {
                route: route.index,
                fallback: route.fallback,
            });
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
        note(&|| Step::Default);
        self.any(ctx, rng)
    }

    fn any(&self, ctx: &RequestContext, rng: &Rng) -> Result<Picked, RouteError> {
        if self.all.is_empty() {
            return Err(RouteError::NoInstances(self.service.clone()));
        }
        let i = choose(
            self.all_picker.as_ref(),
            &self.all,
            ctx,
            rng,
            self.health.as_deref(),
        );
        Ok(Picked::new(
            self.all[i].clone(),
            self.health.as_deref().cloned(),
            false,
        ))
    }
}

impl CompiledRoute {
    /// The summed weight of the destinations that have endpoints: what a draw is out of.
    fn available_weight(&self) -> u64 {
        self.destinations
            .iter()
            .filter(|d| !d.endpoints.is_empty())
            .map(|d| d.weight)
            .sum()
    }

    /// A weighted draw among the destinations (an empty one hands its share to the
    /// others): the chosen destination's index and itself, and the index of its endpoint.
    fn pick(
        &self,
        ctx: &RequestContext,
        rng: &Rng,
        health: Option<&HealthPolicy>,
    ) -> Option<(usize, usize, &Destination)> {
        let (mut available, mut live) = (0u64, 0usize);
        for d in self.destinations.iter().filter(|d| !d.endpoints.is_empty()) {
            available += d.weight;
            live += 1;
        }
        if available == 0 {
            return None;
        }
        // A draw that lands on an ejected endpoint draws again (a few times), so an ejected
        // destination hands its share to the others.
        let mut last = None;
        for _ in 0..3 {
            // One destination with endpoints (the usual route) needs no draw: it saves the
            // random source's atomic operation on every pick.
            let mut x = if live == 1 {
                0
            } else {
                rng.next_u64() % available
            };
            let live_destinations = self
                .destinations
                .iter()
                .enumerate()
                .filter(|(_, d)| !d.endpoints.is_empty());
            for (k, d) in live_destinations {
                if x < d.weight {
                    let i = choose(d.picker.as_ref(), &d.endpoints, ctx, rng, health);
                    match d.endpoints.get(i) {
                        Some(e) if health.is_some() && e.is_ejected() => last = Some((k, i, d)),
                        Some(_) => return Some((k, i, d)),
                        None => {}
                    }
                    break;
                }
                x -= d.weight;
            }
        }
        if last.is_some() {
            return last;
        }
        None
    }
}

/// The policy's pick, adjusted for passive health: an ejected endpoint passes the request
/// to the next healthy one, unless more than the panic threshold of the endpoints are
/// ejected (then health is ignored); an endpoint in slow start keeps the request only
/// with a probability growing with its age.
fn choose(
    picker: &dyn Pick,
    endpoints: &[Arc<Endpoint>],
    ctx: &RequestContext,
    rng: &Rng,
    health: Option<&HealthPolicy>,
) -> usize {
    let mut i = picker.pick(endpoints, ctx, rng);
    let Some(health) = health else { return i };
    if let Some(window) = health.slow_start {
        // A cold endpoint keeps the request with probability `warmth`; otherwise the
        // policy picks again (a few times at most, so the cost stays bounded).
        for _ in 0..4 {
            let warmth = endpoints[i].health.warmth(Some(window));
            if warmth >= 1.0 || (rng.next_u64() >> 11) as f64 / (1u64 << 53) as f64 <= warmth {
                break;
            }
            i = picker.pick(endpoints, ctx, rng);
        }
    }
    if !endpoints[i].is_ejected() {
        return i;
    }
    // Too many ejected: panic mode, route as if all were healthy (counted only when the
    // pick is ejected, so the healthy path stays O(1)).
    let n = endpoints.len();
    let tolerated = (health.panic_threshold * n as f64).floor() as usize;
    if endpoints.iter().filter(|e| e.is_ejected()).count() > tolerated {
        return i;
    }
    // Ask the policy again first (spreads an ejected endpoint's share the policy's way),
    // then walk to the next healthy one.
    for _ in 0..2 {
        let j = picker.pick(endpoints, ctx, rng);
        if !endpoints[j].is_ejected() {
            return j;
        }
    }
    for k in 1..n {
        let j = (i + k) % n;
        if !endpoints[j].is_ejected() {
            return j;
        }
    }
    i
}
