//! A map bounded in bytes: what the IdP keeps between requests (pending logins, sessions,
//! codes, tokens, id_token records, LogoutRequests sent) is capped by its size in memory, not
//! by a count, so large entries cannot make a count cap worth gigabytes. When a new entry
//! would pass the cap, the oldest entries go first.
//!
//! Sizes are estimates ([`Footprint`]): the struct itself, the heap bytes of its strings and
//! vectors, and [`ENTRY_OVERHEAD`] for the hash table slot and the age queue.

use std::collections::{HashMap, VecDeque};
use std::hash::Hash;

use time::OffsetDateTime;

/// Bytes counted per entry beyond its key and value (hash table slot, control byte, the age
/// queue's copy of the key's inline part, allocator rounding).
pub const ENTRY_OVERHEAD: usize = 64;

/// Bytes a value holds: its own size plus what it owns on the heap.
pub trait Footprint {
    /// Heap bytes owned by the value.
    fn heap_bytes(&self) -> usize;

    fn footprint(&self) -> usize
    where
        Self: Sized,
    {
        size_of::<Self>() + self.heap_bytes()
    }
}

impl Footprint for String {
    fn heap_bytes(&self) -> usize {
        self.capacity()
    }
}

impl<T: Footprint> Footprint for Option<T> {
    fn heap_bytes(&self) -> usize {
        self.as_ref().map_or(0, Footprint::heap_bytes)
    }
}

impl<T: Footprint> Footprint for Vec<T> {
    fn heap_bytes(&self) -> usize {
        self.capacity() * size_of::<T>() + self.iter().map(Footprint::heap_bytes).sum::<usize>()
    }
}

impl<A: Footprint, B: Footprint> Footprint for (A, B) {
    fn heap_bytes(&self) -> usize {
        self.0.heap_bytes() + self.1.heap_bytes()
    }
}

impl<A: Footprint, B: Footprint, C: Footprint> Footprint for (A, B, C) {
    fn heap_bytes(&self) -> usize {
        self.0.heap_bytes() + self.1.heap_bytes() + self.2.heap_bytes()
    }
}

impl Footprint for OffsetDateTime {
    fn heap_bytes(&self) -> usize {
        0
    }
}

/// A map whose entries total at most `max_bytes` (estimated); inserting evicts the oldest
/// entries (by insertion) to make room.
#[derive(Debug)]
pub struct Bounded<K, V> {
    map: HashMap<K, Slot<V>>,
    /// Keys by insertion, oldest first; an entry is stale when its key was removed or
    /// inserted again (its sequence number no longer matches).
    order: VecDeque<(u64, K)>,
    next: u64,
    bytes: usize,
    max_bytes: usize,
}

#[derive(Debug)]
struct Slot<V> {
    value: V,
    seq: u64,
    bytes: usize,
}

impl<K, V> Bounded<K, V>
where
    K: Hash + Eq + Clone + Footprint,
    V: Footprint,
{
    pub fn new(max_bytes: usize) -> Self {
        Bounded {
            map: HashMap::new(),
            order: VecDeque::new(),
            next: 0,
            bytes: 0,
            max_bytes,
        }
    }

    fn size(key: &K, value: &V) -> usize {
        // The key is held twice: in the map and in the age queue.
        2 * key.footprint() + value.footprint() + ENTRY_OVERHEAD
    }

    /// Stores `value` under `key` (replacing an entry with that key), evicting the oldest
    /// entries while the total is over the cap. Returns false, storing nothing, when the entry
    /// alone is larger than the cap.
    pub fn insert(&mut self, key: K, value: V) -> bool {
        let bytes = Self::size(&key, &value);
        if bytes > self.max_bytes {
            return false;
        }
        self.remove(&key);
        while self.bytes + bytes > self.max_bytes {
            if !self.evict_oldest() {
                break;
            }
        }
        let seq = self.next;
        self.next += 1;
        self.order.push_back((seq, key.clone()));
        self.map.insert(key, Slot { value, seq, bytes });
        self.bytes += bytes;
        true
    }

    /// Drops the oldest entry; false when there is none.
    fn evict_oldest(&mut self) -> bool {
        while let Some((seq, key)) = self.order.pop_front() {
            if self.map.get(&key).is_some_and(|s| s.seq == seq) {
                if let Some(slot) = self.map.remove(&key) {
                    self.bytes -= slot.bytes;
                }
                return true;
            }
        }
        false
    }

    /// Makes an entry the newest (it was just used), so that what is in use outlives what
    /// is not: a refresh token in use is not evicted by the access tokens it mints.
    pub fn touch(&mut self, key: &K) {
        if let Some(v) = self.remove(key) {
            self.insert(key.clone(), v);
        }
    }

    pub fn get(&self, key: &K) -> Option<&V> {
        self.map.get(key).map(|s| &s.value)
    }

    /// Changes an entry in place; its size is counted again afterwards (and older entries
    /// evicted if it grew past the cap).
    pub fn update<R>(&mut self, key: &K, f: impl FnOnce(&mut V) -> R) -> Option<R> {
        let slot = self.map.get_mut(key)?;
        let r = f(&mut slot.value);
        let now = Self::size(key, &slot.value);
        self.bytes = self.bytes - slot.bytes + now;
        slot.bytes = now;
        let seq = slot.seq;
        while self.bytes > self.max_bytes {
            // Never the entry just changed: it would surprise its caller.
            match self.order.front() {
                Some((s, _)) if *s == seq => break,
                Some(_) => {
                    self.evict_oldest();
                }
                None => break,
            }
        }
        Some(r)
    }

    pub fn remove(&mut self, key: &K) -> Option<V> {
        let slot = self.map.remove(key)?;
        self.bytes -= slot.bytes;
        self.compact();
        Some(slot.value)
    }

    /// Keeps the entries for which `keep` is true (whose changes must not change their size:
    /// flags, not strings).
    pub fn retain(&mut self, mut keep: impl FnMut(&K, &mut V) -> bool) {
        let mut freed = 0;
        self.map.retain(|k, s| {
            let kept = keep(k, &mut s.value);
            if !kept {
                freed += s.bytes;
            }
            kept
        });
        self.bytes -= freed;
        self.compact();
    }

    /// Values to change in place: flags only (sizes are not counted again).
    pub fn values_mut(&mut self) -> impl Iterator<Item = &mut V> {
        self.map.values_mut().map(|s| &mut s.value)
    }

    pub fn iter(&self) -> impl Iterator<Item = (&K, &V)> {
        self.map.iter().map(|(k, s)| (k, &s.value))
    }

    pub fn len(&self) -> usize {
        self.map.len()
    }

    /// The estimated bytes held.
    pub fn bytes(&self) -> usize {
        self.bytes
    }

    /// Drops stale queue entries once they outnumber the live ones, so removals do not grow
    /// the queue without bound.
    fn compact(&mut self) {
        if self.order.len() > 2 * self.map.len() + 64 {
            let map = &self.map;
            self.order
                .retain(|(seq, k)| map.get(k).is_some_and(|s| s.seq == *seq));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(n: usize) -> usize {
        Bounded::<String, String>::size(&"k0".to_owned(), &"v".repeat(n))
    }

    /// Guards the byte cap: large values evict old ones, the total never passes the cap.
    #[test]
    fn the_total_stays_under_the_cap_and_the_oldest_go_first() {
        let one = entry(1000);
        let mut m = Bounded::new(one * 3);
        for i in 0..10 {
            assert!(m.insert(format!("k{i}"), "v".repeat(1000)));
            assert!(m.bytes() <= one * 3, "{} > {}", m.bytes(), one * 3);
        }
        assert_eq!(m.len(), 3);
        assert!(m.get(&"k9".to_owned()).is_some());
        assert!(m.get(&"k6".to_owned()).is_none(), "the oldest went first");
    }

    #[test]
    fn an_entry_larger_than_the_cap_is_not_stored() {
        let mut m = Bounded::new(1000);
        assert!(!m.insert("k".to_owned(), "v".repeat(2000)));
        assert_eq!(m.len(), 0);
        assert_eq!(m.bytes(), 0);
    }

    #[test]
    fn removing_and_replacing_keep_the_count_right() {
        let mut m = Bounded::new(1 << 20);
        for i in 0..1000 {
            m.insert("same".to_owned(), format!("{i}"));
            m.insert(format!("k{i}"), String::new());
            m.remove(&format!("k{i}"));
        }
        assert_eq!(m.len(), 1);
        let key = "same".to_owned();
        assert_eq!(
            m.bytes(),
            Bounded::<String, String>::size(&key, m.get(&key).unwrap())
        );
        assert!(m.order.len() <= 2 * m.len() + 64 + 2, "{}", m.order.len());
        m.retain(|_, _| false);
        assert_eq!(m.bytes(), 0);
    }

    #[test]
    fn a_touched_entry_goes_last() {
        let one = entry(1000);
        let mut m = Bounded::new(one * 3);
        for i in 0..3 {
            m.insert(format!("k{i}"), "v".repeat(1000));
        }
        m.touch(&"k0".to_owned());
        m.insert("k3".to_owned(), "v".repeat(1000));
        assert!(m.get(&"k0".to_owned()).is_some(), "used, so kept");
        assert!(m.get(&"k1".to_owned()).is_none());
    }

    #[test]
    fn an_update_is_counted_again() {
        let mut m = Bounded::new(1 << 20);
        m.insert("k".to_owned(), String::new());
        let before = m.bytes();
        m.update(&"k".to_owned(), |v| v.push_str(&"x".repeat(100)));
        assert!(m.bytes() >= before + 100);
    }
}
