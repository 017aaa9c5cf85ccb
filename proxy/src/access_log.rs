//! The access log writer: lines are handed to a dedicated thread so a slow disk or a full
//! pipe never stalls a request. When the queue is full a line is dropped and counted. The
//! gateway's own log lines (`tracing`) reach stderr the same way, through [`LineWriter`].

use crate::settings::LogDestination;
use std::io::Write;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::mpsc::{sync_channel, Receiver, SyncSender, TrySendError};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

const QUEUE: usize = 16_384;

#[derive(Debug)]
pub struct Sink {
    sender: SyncSender<String>,
    worker: Mutex<Option<JoinHandle<()>>>,
    pub dropped: AtomicU64,
}

impl Sink {
    /// Opens `dest`; `None` when the log is off.
    pub fn open(dest: &LogDestination) -> std::io::Result<Option<Self>> {
        let out: Box<dyn Write + Send> = match dest {
            LogDestination::Off => return Ok(None),
            LogDestination::Stdout => Box::new(std::io::stdout()),
            LogDestination::Stderr => Box::new(std::io::stderr()),
            LogDestination::File(p) => Box::new(
                std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(p)?,
            ),
        };
        let (tx, rx) = sync_channel(QUEUE);
        let worker = std::thread::Builder::new()
            .name("access-log".into())
            .spawn(move || write_lines(rx, out))?;
        Ok(Some(Self {
            sender: tx,
            worker: Mutex::new(Some(worker)),
            dropped: AtomicU64::new(0),
        }))
    }

    /// Queues one line (with its newline).
    pub fn write(&self, line: String) {
        if let Err(TrySendError::Full(_)) = self.sender.try_send(line) {
            self.dropped.fetch_add(1, Relaxed);
        }
    }

    /// Writes what is queued and waits for the writer to finish. An empty line is the
    /// writer's signal to stop (real lines always end with a newline).
    pub fn flush_and_close(&self) {
        let _ = self.sender.send(String::new());
        if let Some(w) = self.worker.lock().unwrap_or_else(|p| p.into_inner()).take() {
            let _ = w.join();
        }
    }
}

fn write_lines(rx: Receiver<String>, out: Box<dyn Write + Send>) {
    let mut out = std::io::BufWriter::with_capacity(64 * 1024, out);
    while let Ok(line) = rx.recv() {
        if line.is_empty() {
            break;
        }
        let _ = out.write_all(line.as_bytes());
        loop {
            match rx.try_recv() {
                Ok(line) if line.is_empty() => {
                    let _ = out.flush();
                    return;
                }
                Ok(line) => {
                    let _ = out.write_all(line.as_bytes());
                }
                Err(_) => break,
            }
        }
        let _ = out.flush();
    }
    let _ = out.flush();
}

/// A `tracing` writer that queues each event's line on a [`Sink`].
#[derive(Debug, Clone)]
pub struct LineWriter(Arc<Sink>);

impl LineWriter {
    pub fn new(sink: Arc<Sink>) -> Self {
        Self(sink)
    }
}

/// One event's line, queued when the formatter is done with it.
#[derive(Debug)]
pub struct EventLine<'a> {
    sink: &'a Sink,
    buf: Vec<u8>,
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for LineWriter {
    type Writer = EventLine<'a>;

    fn make_writer(&'a self) -> EventLine<'a> {
        EventLine {
            sink: &self.0,
            buf: Vec::with_capacity(256),
        }
    }
}

impl Write for EventLine<'_> {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.buf.extend_from_slice(b);
        Ok(b.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Drop for EventLine<'_> {
    fn drop(&mut self) {
        if !self.buf.is_empty() {
            let line = String::from_utf8_lossy(&self.buf).into_owned();
            self.sink.write(line);
        }
    }
}
