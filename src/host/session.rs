//! A session played through the host: a transport that starts, rolls and stops, the player's notes
//! on their beats, every block logged.

use super::{ClapHost, HostError, NoteIn, NoteOut, Transport};

/// The channel (0-based) the player's notes go in on: not Cadenza's output channel, so pass-through
/// notes and generated notes can be told apart in what comes out.
pub const PLAYER_CHANNEL: u8 = 1;

/// A note the player plays, in beats from the start of the rolling transport.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PlayedNote {
    /// Where it starts, in beats from the transport's start.
    pub beat: f64,
    /// How long it is held, in beats.
    pub length: f64,
    /// The MIDI key.
    pub key: u8,
    /// 0..=1.
    pub velocity: f64,
}

/// One block as it happened.
#[derive(Debug, Clone, PartialEq)]
pub struct BlockLog {
    /// Sample position of the block's first sample, counted from the start of the session.
    pub sample: u64,
    /// Samples in the block.
    pub frames: u32,
    /// The transport rolled.
    pub playing: bool,
    /// What the plugin sent in it.
    pub events: Vec<NoteOut>,
}

/// How to run a session.
#[derive(Debug, Clone)]
pub struct Session {
    /// Hz.
    pub sample_rate: f64,
    /// Samples a block.
    pub block: u32,
    /// BPM.
    pub tempo: f64,
    /// Seconds with the transport stopped before it starts (the engine loads meanwhile).
    pub preroll_seconds: f64,
    /// Beats with the transport rolling.
    pub beats: f64,
    /// Seconds with the transport stopped after it (the stop must end every note).
    pub postroll_seconds: f64,
    /// What the player plays.
    pub played: Vec<PlayedNote>,
    /// Pace blocks in real time, as an audio interface would (the engine runs on real time).
    pub realtime: bool,
    /// The host loops over these beats (start, end) while it rolls: the transport's position goes
    /// back to the start at the end, and the played notes stay on the rolling time (beats since the
    /// start, as `beats` counts them). `None`: it plays straight on.
    pub loop_beats: Option<(f64, f64)>,
}

impl Session {
    /// Run the session on an active host in blocks of `self.block` frames; returns every block.
    pub fn run(&self, host: &mut ClapHost) -> Result<Vec<BlockLog>, HostError> {
        self.run_with_blocks(host, || self.block)
    }

    /// Run the session asking `next_block` for each block's length (at most the host's maximum);
    /// returns every block.
    pub fn run_with_blocks(
        &self,
        host: &mut ClapHost,
        mut next_block: impl FnMut() -> u32,
    ) -> Result<Vec<BlockLog>, HostError> {
        let started = std::time::Instant::now();
        let spb = self.sample_rate * 60.0 / self.tempo; // samples per beat
        let pre = (self.preroll_seconds * self.sample_rate) as u64;
        let roll = (self.beats * spb) as u64;
        let post = (self.postroll_seconds * self.sample_rate) as u64;
        let total = pre + roll + post;
        // Played notes as (sample, on, key, velocity), absolute.
        let mut events: Vec<(u64, bool, u8, f64)> = Vec::new();
        for n in &self.played {
            let on = pre + (n.beat * spb).round() as u64;
            let off = pre + ((n.beat + n.length) * spb).round() as u64;
            events.push((on, true, n.key, n.velocity));
            events.push((off.max(on + 1), false, n.key, 0.0));
        }
        events.sort_by_key(|e| (e.0, e.1));
        let mut logs = Vec::new();
        let mut sample = 0u64;
        while sample < total {
            // Blocks never straddle the start or the stop of the transport, nor the loop's end,
            // as in a host. The loop in samples since the roll began: (start, end).
            let looped = self
                .loop_beats
                .map(|(a, b)| ((a * spb).round() as u64, (b * spb).round() as u64))
                .filter(|(a, b)| b > a);
            let boundary = if sample < pre {
                pre
            } else if sample < pre + roll {
                let rolled = sample - pre;
                let next = match looped {
                    Some((_, end)) if rolled < end => pre + end,
                    Some((start, end)) => sample + (end - start) - (rolled - start) % (end - start),
                    None => pre + roll,
                };
                next.min(pre + roll)
            } else {
                total
            };
            let frames = (u64::from(next_block().max(1))).min(boundary - sample) as u32;
            let playing = sample >= pre && sample < pre + roll;
            // The transport's position: from the loop's first end on, inside the loop.
            let position = match (playing, looped) {
                (false, _) => 0,
                (true, Some((start, end))) if sample - pre >= end => {
                    start + (sample - pre - start) % (end - start)
                }
                (true, _) => sample - pre,
            };
            let beat = position as f64 / spb;
            let mut transport = Transport::at(playing, beat, self.tempo);
            transport.loop_range = self.loop_beats.filter(|_| playing);
            let notes: Vec<NoteIn> = events
                .iter()
                .filter(|e| e.0 >= sample && e.0 < sample + u64::from(frames))
                .map(|e| NoteIn {
                    time: (e.0 - sample) as u32,
                    on: e.1,
                    key: e.2,
                    velocity: e.3,
                })
                .collect();
            let out = host.process(frames, transport, &notes)?;
            logs.push(BlockLog {
                sample,
                frames,
                playing,
                events: out,
            });
            sample += u64::from(frames);
            if self.realtime {
                let due = std::time::Duration::from_secs_f64(sample as f64 / self.sample_rate);
                if let Some(wait) = due.checked_sub(started.elapsed()) {
                    std::thread::sleep(wait);
                }
            }
        }
        Ok(logs)
    }
}
