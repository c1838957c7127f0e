//! The batch planner: commands that may span hash tags, grouped into one pipeline on a
//! standalone Redis and one per hash slot on a cluster, GETs in a row merged into one MGET.

use super::keys;
use redis::{Cmd, Pipeline, Script};

/// Commands collected for `Store::batch`.
#[derive(Default)]
pub struct Batch {
    pub(super) entries: Vec<Entry>,
    pub(super) scripts: Vec<&'static Script>,
}

pub(super) enum Entry {
    /// A plain GET: GETs that follow each other on one slot go out as one MGET. (Its slot is
    /// only worked out on a cluster.)
    Get(String),
    /// A command, with the hash slot of its first key.
    Command(u16, Cmd),
}

impl Batch {
    pub fn new() -> Batch {
        Batch::default()
    }

    /// Adds a command whose first key is `key`.
    pub fn add(&mut self, key: &str, cmd: Cmd) -> usize {
        self.entries.push(Entry::Command(keys::slot(key), cmd));
        self.entries.len() - 1
    }

    /// Adds the command `name` on `key`, to be given its arguments (the key first), as
    /// `redis::pipe().cmd()` does: `batch.cmd(&key, "SISMEMBER").arg(&key).arg(member)`.
    pub fn cmd(&mut self, key: &str, name: &str) -> &mut Cmd {
        self.add(key, redis::cmd(name));
        match self.entries.last_mut() {
            Some(Entry::Command(_, cmd)) => cmd,
            _ => unreachable!("a command was just added"),
        }
    }

    /// Sets a key's expiry to `at_ms` unless it already lives longer: Redis 7's NX and GT together.
    pub fn extend_expiry(&mut self, key: &str, at_ms: i64) {
        self.cmd(key, "PEXPIREAT").arg(key).arg(at_ms).arg("NX");
        self.cmd(key, "PEXPIREAT").arg(key).arg(at_ms).arg("GT");
    }

    /// Adds `GET key`.
    pub fn get(&mut self, key: String) -> usize {
        self.entries.push(Entry::Get(key));
        self.entries.len() - 1
    }

    /// Adds a run of `script` on `keys` (all under one hash tag) with `args`.
    pub fn add_script<A: redis::ToRedisArgs>(&mut self, script: &'static Script, keys: &[String], args: A) -> usize {
        let mut cmd = redis::cmd("EVALSHA");
        cmd.arg(script.get_hash()).arg(keys.len()).arg(keys).arg(args);
        if !self.scripts.iter().any(|s| std::ptr::eq(*s, script)) {
            self.scripts.push(script);
        }
        self.add(keys.first().map_or("", String::as_str), cmd)
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

/// One pipeline of a batch, and where each of its answers goes among the batch's answers.
pub(super) struct Planned {
    pub(super) pipe: Pipeline,
    pub(super) destinations: Vec<Destination>,
    /// GETs not yet added to `pipe`: (position in the batch, key).
    gets: Vec<(usize, String)>,
}

pub(super) enum Destination {
    One(usize),
    /// An MGET's answers, one per position.
    Each(Vec<usize>),
}

impl Planned {
    fn new() -> Planned {
        Planned {
            pipe: redis::pipe(),
            destinations: Vec::new(),
            gets: Vec::new(),
        }
    }

    fn push(&mut self, position: usize, entry: Entry) {
        match entry {
            Entry::Get(key) => self.gets.push((position, key)),
            Entry::Command(_, cmd) => {
                self.flush_gets();
                self.pipe.add_command(cmd);
                self.destinations.push(Destination::One(position));
            }
        }
    }

    /// Adds the GETs collected since the last other command: one GET, or one MGET for several
    /// (one command for Redis to run instead of forty on a feed page).
    fn flush_gets(&mut self) {
        match self.gets.len() {
            0 => {}
            1 => {
                let (position, key) = self.gets.remove(0);
                self.pipe.cmd("GET").arg(key);
                self.destinations.push(Destination::One(position));
            }
            _ => {
                let mut mget = redis::cmd("MGET");
                let mut positions = Vec::with_capacity(self.gets.len());
                for (position, key) in self.gets.drain(..) {
                    mget.arg(key);
                    positions.push(position);
                }
                self.pipe.add_command(mget);
                self.destinations.push(Destination::Each(positions));
            }
        }
    }
}

/// The batch as pipelines: one on a standalone Redis, one per hash slot on a cluster.
pub(super) fn plan(entries: Vec<Entry>, cluster: bool) -> Vec<Planned> {
    if !cluster {
        let mut planned = Planned::new();
        for (position, entry) in entries.into_iter().enumerate() {
            planned.push(position, entry);
        }
        planned.flush_gets();
        return vec![planned];
    }
    let mut pipelines: Vec<Planned> = Vec::new();
    let mut index_of_slot: foldhash::HashMap<u16, usize> = foldhash::HashMap::default();
    for (position, entry) in entries.into_iter().enumerate() {
        let slot = match &entry {
            Entry::Get(key) => keys::slot(key),
            Entry::Command(slot, _) => *slot,
        };
        let i = *index_of_slot.entry(slot).or_insert_with(|| {
            pipelines.push(Planned::new());
            pipelines.len() - 1
        });
        pipelines[i].push(position, entry);
    }
    for planned in &mut pipelines {
        planned.flush_gets();
    }
    pipelines
}
