//! Drain confirmation (docs/design.md §4): the word the agent tells HAProxy about one daemon, and
//! which HAProxies have been told it since it last changed. A restart waits until every
//! HAProxy that polls this daemon has heard the new word (so none still sends it requests),
//! bounded by `drain-confirm-timeout`; an HAProxy silent for `peer-ttl` is no longer waited for.

use std::collections::HashMap;
use std::net::IpAddr;
use std::time::{Duration, Instant};

use super::Word;

#[derive(Debug, Clone, Copy)]
struct Poll {
    at: Instant,
    told_current_word: bool,
}

#[derive(Debug)]
pub(super) struct Announced {
    word: Word,
    since: Instant,
    /// Per HAProxy (by source address): when it last polled, and whether it was told the
    /// current word.
    haproxies: HashMap<IpAddr, Poll>,
}

impl Announced {
    pub(super) fn new(word: Word, now: Instant) -> Self {
        Self {
            word,
            since: now,
            haproxies: HashMap::new(),
        }
    }

    pub(super) fn word(&self) -> &Word {
        &self.word
    }

    /// When the word last changed.
    pub(super) fn since(&self) -> Instant {
        self.since
    }

    /// Tells `word` from now on; a change must be heard again by every HAProxy.
    pub(super) fn set(&mut self, word: Word, now: Instant) {
        if word == self.word {
            return;
        }
        self.word = word;
        self.since = now;
        for poll in self.haproxies.values_mut() {
            poll.told_current_word = false;
        }
    }

    /// The HAProxy at `haproxy` polled and was told `told`: only a poll that was told the
    /// current word confirms a change.
    pub(super) fn polled(&mut self, haproxy: IpAddr, told: &Word, now: Instant) {
        let told_current_word = *told == self.word;
        self.haproxies.insert(
            haproxy,
            Poll {
                at: now,
                told_current_word,
            },
        );
    }

    /// Every HAProxy that polls has been told the current word, or waiting longer is
    /// pointless (`timeout` since the change; with no HAProxy known, nothing to wait for).
    pub(super) fn confirmed(&self, now: Instant, timeout: Duration, haproxy_ttl: Duration) -> bool {
        now >= self.since + timeout
            || self.haproxies.values().all(|poll| {
                poll.told_current_word || now.saturating_duration_since(poll.at) >= haproxy_ttl
            })
    }
}
