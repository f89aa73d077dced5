//! A switch that a program sets for every thread, a scope sets for one thread, and
//! an environment variable sets by default: switching and the row check use it.

use std::cell::Cell;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU8, Ordering};
use std::thread::LocalKey;

const UNSET: u8 = 0;
const ON: u8 = 1;
const OFF: u8 = 2;

fn encode(enabled: bool) -> u8 {
    if enabled { ON } else { OFF }
}

/// One on/off setting: a [`Setting::scoped`] value on this thread wins, then
/// [`Setting::set`] for all threads, then the environment variable; on by default.
pub(crate) struct Setting {
    env: &'static str,
    from_env: OnceLock<bool>,
    global: AtomicU8,
    scoped: &'static LocalKey<Cell<u8>>,
}

/// A per-thread slot for a [`Setting`]'s scoped value.
macro_rules! scoped_slot {
    ($name:ident) => {
        thread_local! {
            static $name: ::std::cell::Cell<u8> = const { ::std::cell::Cell::new(0) };
        }
    };
}
pub(crate) use scoped_slot;

impl Setting {
    /// A setting read from `env` (once, at first use) unless set in code.
    pub(crate) const fn new(env: &'static str, scoped: &'static LocalKey<Cell<u8>>) -> Self {
        Self {
            env,
            from_env: OnceLock::new(),
            global: AtomicU8::new(UNSET),
            scoped,
        }
    }

    fn env_value(&self) -> bool {
        *self.from_env.get_or_init(|| match std::env::var(self.env) {
            Err(_) => true,
            Ok(v) => match v.trim().to_ascii_lowercase().as_str() {
                "true" | "1" | "on" | "yes" => true,
                "false" | "0" | "off" | "no" => false,
                other => panic!(
                    "burn-nested: {}={other:?} is not understood; set it to `true`, `1`, `on` or \
                     `yes`, or to `false`, `0`, `off` or `no`, or unset it (on by default)",
                    self.env
                ),
            },
        })
    }

    /// Whether the setting is on for the current thread.
    pub(crate) fn enabled(&self) -> bool {
        match (
            self.scoped.with(Cell::get),
            self.global.load(Ordering::Relaxed),
        ) {
            (ON, _) => true,
            (OFF, _) => false,
            (_, ON) => true,
            (_, OFF) => false,
            _ => self.env_value(),
        }
    }

    /// Sets the value for every thread (overrides the environment).
    pub(crate) fn set(&self, enabled: bool) {
        self.global.store(encode(enabled), Ordering::Relaxed);
    }

    /// Runs `f` with the setting on or off on this thread only.
    pub(crate) fn scoped<R>(&self, enabled: bool, f: impl FnOnce() -> R) -> R {
        let previous = self.scoped.with(|s| s.replace(encode(enabled)));
        struct Restore(&'static LocalKey<Cell<u8>>, u8);
        impl Drop for Restore {
            fn drop(&mut self) {
                self.0.with(|s| s.set(self.1));
            }
        }
        let _restore = Restore(self.scoped, previous);
        f()
    }
}
