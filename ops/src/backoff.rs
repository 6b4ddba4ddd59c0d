//! Exponential back-off for waiting out a dependency that does not answer (Kafka, a schema
//! registry): each pause doubles, up to a ceiling, and starts over after a success. Pure: the
//! caller sleeps, so tests compress time by choosing small durations.

use std::time::Duration;

#[derive(Debug, Clone)]
pub struct Backoff {
    first: Duration,
    max: Duration,
    next: Duration,
}

impl Backoff {
    /// Pauses of `first`, `2 × first`, … up to `max` (at least `first`).
    pub fn new(first: Duration, max: Duration) -> Backoff {
        Backoff {
            first,
            max: max.max(first),
            next: first,
        }
    }

    /// The pause before the next attempt; the one after it is twice as long (up to the ceiling).
    pub fn pause(&mut self) -> Duration {
        let pause = self.next;
        self.next = (self.next * 2).min(self.max);
        pause
    }

    /// After a success: the next failure waits `first` again.
    pub fn reset(&mut self) {
        self.next = self.first;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pauses_double_up_to_the_ceiling_and_start_over_after_a_success() {
        let ms = Duration::from_millis;
        let mut b = Backoff::new(ms(100), ms(500));
        let pauses: Vec<Duration> = (0..5).map(|_| b.pause()).collect();
        assert_eq!(pauses, [ms(100), ms(200), ms(400), ms(500), ms(500)]);
        b.reset();
        assert_eq!(b.pause(), ms(100));
    }

    #[test]
    fn a_ceiling_below_the_first_pause_is_the_first_pause() {
        let ms = Duration::from_millis;
        let mut b = Backoff::new(ms(300), ms(10));
        assert_eq!([b.pause(), b.pause()], [ms(300), ms(300)]);
    }
}
