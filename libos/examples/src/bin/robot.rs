//! `robot`: a robotics-style control loop on the exo libOS, hosted.
//!
//! Two environments of one in-process exokernel, on two host threads:
//! `imu` plays a sensor driver (a synthetic gyro signal with noise from the
//! kernel's generator) and sends each sample to `controller` with
//! `IPC_CALL`; the controller filters the samples, runs a PD controller,
//! answers with the motor command, and logs telemetry to
//! `/tmp/telemetry.csv` in its libOS. The per-sample filter is a
//! [`SampleFilter`] — where the embeddable BPF runtime will plug in, so a
//! filter can be replaced at run time by verified bytecode.
//!
//! ```text
//! cargo run -p exo-examples --bin robot [samples]
//! ```

use std::thread;

use exo_sys::{Exo, Message};
use libos::vfs::Cred;
use libos::vfs::file::OpenFlags;

/// Fixed-point scale of the values carried in message words.
const SCALE: f64 = 1_000_000.0;

/// A per-sample filter (the slot a BPF program will fill).
trait SampleFilter {
    /// Filtered value for a raw sample.
    fn apply(&mut self, raw: f64) -> f64;
}

/// First-order low-pass filter.
struct LowPass {
    alpha: f64,
    state: Option<f64>,
}

impl SampleFilter for LowPass {
    fn apply(&mut self, raw: f64) -> f64 {
        let next = match self.state {
            Some(s) => s + self.alpha * (raw - s),
            None => raw,
        };
        self.state = Some(next);
        next
    }
}

fn encode(v: f64) -> u64 {
    (v * SCALE).round() as i64 as u64
}

fn decode(w: u64) -> f64 {
    w as i64 as f64 / SCALE
}

fn main() {
    let samples: u64 = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(500);
    let (machine, controller, sys) = exo_examples::boot("controller");
    let imu = machine.spawn("imu").expect("a second environment");
    let controller_id = controller.id();

    // The sensor driver: 200 Hz samples of a turning robot's yaw rate.
    let sensor = thread::spawn(move || {
        let mut heading = 0.0f64;
        let mut command = 0.0f64;
        for seq in 0..samples {
            let t = seq as f64 / 200.0;
            let mut noise = [0u8; 2];
            imu.random(&mut noise).expect("kernel RNG");
            let jitter = (f64::from(u16::from_le_bytes(noise)) / 65535.0 - 0.5) * 0.2;
            let rate = (0.5 * t).sin() + jitter - 0.3 * command;
            heading += rate / 200.0;
            let stamp = imu.clock_ns();
            let reply = imu
                .ipc_call(
                    controller_id,
                    &Message::new([seq, encode(rate), encode(heading), stamp]),
                )
                .expect("controller answers");
            command = decode(reply.words[0]);
        }
        imu.ipc_send(controller_id, &Message::new([u64::MAX, 0, 0, 0]))
            .expect("stop message");
        imu.exit(0);
        heading
    });

    // The controller, in the environment the libOS runs in.
    let cred = Cred::root();
    let log = sys
        .vfs
        .open(
            &cred,
            sys.vfs.root(),
            b"/tmp/telemetry.csv",
            OpenFlags {
                create: true,
                trunc: true,
                ..OpenFlags::WRITE
            },
            0o644,
        )
        .expect("telemetry file");
    log.write(b"seq,rate,filtered,heading,command,latency_ns\n")
        .expect("header");
    let mut filter: Box<dyn SampleFilter> = Box::new(LowPass {
        alpha: 0.2,
        state: None,
    });
    let (kp, kd) = (1.5, 0.2);
    let mut last_error = 0.0;
    let mut latency_sum = 0u64;
    let mut handled = 0u64;
    let mut msg = controller.ipc_recv().expect("first sample");
    loop {
        if msg.words[0] == u64::MAX {
            break;
        }
        let now = controller.clock_ns();
        let (seq, rate, heading) = (msg.words[0], decode(msg.words[1]), decode(msg.words[2]));
        let filtered = filter.apply(rate);
        let error = filtered;
        let command = kp * error + kd * (error - last_error);
        last_error = error;
        let latency = now.saturating_sub(msg.words[3]);
        latency_sum += latency;
        handled += 1;
        log.write(
            format!("{seq},{rate:.5},{filtered:.5},{heading:.5},{command:.5},{latency}\n")
                .as_bytes(),
        )
        .expect("telemetry");
        msg = controller
            .ipc_reply_recv(msg.from, &Message::new([encode(command), 0, 0, 0]))
            .expect("next sample");
    }
    let final_heading = sensor.join().expect("sensor thread");
    let size = log.stat().map(|s| s.size).unwrap_or(0);
    println!(
        "robot: {handled} samples over IPC, mean sample-to-controller latency {} ns",
        latency_sum / handled.max(1)
    );
    println!(
        "robot: final heading {final_heading:.4} rad, telemetry {size} bytes in /tmp/telemetry.csv"
    );
    let status = String::from_utf8_lossy(&machine.console()).into_owned();
    if !status.is_empty() {
        println!("{status}");
    }
}
