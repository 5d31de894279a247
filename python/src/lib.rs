//! `s3cache._native`: the s3cache component run by the project's own wasmtime host (compiled
//! code cached on disk, pooled keep-alive HTTP), for Python. The package wraps it in
//! `s3cache.Cache` and `s3cache.django.S3Cache`; this module only moves bytes and errors across.

use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict, PyList};
use s3cache::SETTINGS;
use s3cache_runtime::{
    CacheError, CacheStore, CodeOrigin, Config, Credentials, EMBEDDED_COMPONENT, Outcome, Runtime,
    Ttl,
};

/// What a process shares: the compiled component and the async runtime its HTTP client uses.
struct Host {
    tokio: Option<tokio::runtime::Runtime>,
    runtime: Runtime,
    pid: u32,
    /// The runtime's warnings not yet handed to Python.
    warnings: Mutex<Vec<String>>,
}

/// The precompiled component the package ships, when it ships one (set at import).
static PRECOMPILED: Mutex<Option<PathBuf>> = Mutex::new(None);

impl Host {
    fn start() -> Result<Host, String> {
        let tokio = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("s3cache-http")
            .enable_all()
            .build()
            .map_err(|error| format!("cannot start the async runtime: {error}"))?;
        let path = lock(&PRECOMPILED).clone();
        // A file that cannot be read is the same as none: the component is compiled.
        let precompiled = path.and_then(|path| std::fs::read(path).ok());
        let runtime = Runtime::with_precompiled(EMBEDDED_COMPONENT, precompiled.as_deref())
            .map_err(|error| format!("{error:#}"))?;
        let warnings = Mutex::new(runtime.warnings().to_vec());
        Ok(Host {
            tokio: Some(tokio),
            runtime,
            pid: std::process::id(),
            warnings,
        })
    }

    fn block_on<F: Future>(&self, future: F) -> F::Output {
        self.tokio
            .as_ref()
            .expect("the runtime is only taken on drop")
            .block_on(future)
    }
}

impl Drop for Host {
    fn drop(&mut self) {
        // In a forked child the runtime's worker threads do not exist: shutting it down would
        // wait for them forever, so the child leaks it instead.
        if let Some(tokio) = self.tokio.take()
            && self.pid != std::process::id()
        {
            std::mem::forget(tokio);
        }
    }
}

/// The process's host once started; a forked child starts its own.
static HOST: Mutex<Option<Arc<Host>>> = Mutex::new(None);

/// The process's host, started on first use and again in a forked child.
fn host() -> Result<Arc<Host>, String> {
    let mut slot = lock(&HOST);
    if let Some(host) = slot.as_ref().filter(|host| host.pid == std::process::id()) {
        return Ok(Arc::clone(host));
    }
    let host = Arc::new(Host::start()?);
    *slot = Some(Arc::clone(&host));
    Ok(host)
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic while holding the lock cannot leave a store half-updated: each call is one
    // component call that either finished or trapped.
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// An open `store` resource in its own component instance; calls from several threads queue.
#[pyclass(frozen, module = "s3cache._native")]
struct Store {
    // Dropped before the host it runs on.
    store: Mutex<CacheStore>,
    host: Arc<Host>,
}

#[pymethods]
impl Store {
    /// Instantiates the component and opens a store; the component validates the config.
    #[staticmethod]
    fn open(py: Python<'_>, config: StoreConfig) -> PyResult<Store> {
        let config = Config::from(config);
        let (host, opened) = py
            .detach(|| {
                let host = host()?;
                let opened = host.block_on(host.runtime.open(&config));
                Ok((host, opened))
            })
            .map_err(|message: String| error(py, "", message))?;
        let store = answer(py, opened)?;
        Ok(Store {
            store: Mutex::new(store),
            host,
        })
    }

    /// `store.get`: the value, or None on a miss.
    fn get<'py>(&self, py: Python<'py>, key: &str) -> PyResult<Option<Bound<'py, PyBytes>>> {
        let value = self.run(py, async |store| store.get(key).await)?;
        Ok(value.map(|value| PyBytes::new(py, &value)))
    }

    /// `store.set`; `ttl` is milliseconds, None (never expires) or "default".
    fn set(&self, py: Python<'_>, key: &str, value: &[u8], ttl: Option<TtlArg>) -> PyResult<()> {
        let ttl = ttl_from(ttl)?;
        self.run(py, async |store| store.set(key, value, ttl).await)
    }

    /// `store.add`: whether it stored the value.
    fn add(&self, py: Python<'_>, key: &str, value: &[u8], ttl: Option<TtlArg>) -> PyResult<bool> {
        let ttl = ttl_from(ttl)?;
        self.run(py, async |store| store.add(key, value, ttl).await)
    }

    /// `store.touch`: whether a live entry got the new expiry.
    fn touch(&self, py: Python<'_>, key: &str, ttl: Option<TtlArg>) -> PyResult<bool> {
        let ttl = ttl_from(ttl)?;
        self.run(py, async |store| store.touch(key, ttl).await)
    }

    /// `store.delete`: whether an object existed.
    fn delete(&self, py: Python<'_>, key: &str) -> PyResult<bool> {
        self.run(py, async |store| store.delete(key).await)
    }

    /// `store.has-key`.
    fn has_key(&self, py: Python<'_>, key: &str) -> PyResult<bool> {
        self.run(py, async |store| store.has_key(key).await)
    }

    /// `store.incr`: the new value.
    fn incr(&self, py: Python<'_>, key: &str, delta: i64) -> PyResult<i64> {
        self.run(py, async |store| store.incr(key, delta).await)
    }

    /// `store.decr`: the new value.
    fn decr(&self, py: Python<'_>, key: &str, delta: i64) -> PyResult<i64> {
        self.run(py, async |store| store.decr(key, delta).await)
    }

    /// `store.get-many`: a dict of the hits.
    fn get_many<'py>(&self, py: Python<'py>, keys: Vec<String>) -> PyResult<Bound<'py, PyDict>> {
        let hits = self.run(py, async |store| store.get_many(&keys).await)?;
        let dict = PyDict::new(py);
        for (key, value) in hits {
            dict.set_item(key, PyBytes::new(py, &value))?;
        }
        Ok(dict)
    }

    /// `store.set-many`: the keys that could not be stored.
    fn set_many(
        &self,
        py: Python<'_>,
        entries: Vec<(String, Bound<'_, PyBytes>)>,
        ttl: Option<TtlArg>,
    ) -> PyResult<Vec<String>> {
        let ttl = ttl_from(ttl)?;
        let entries: Vec<(String, Vec<u8>)> = entries
            .into_iter()
            .map(|(key, value)| (key, value.as_bytes().to_vec()))
            .collect();
        self.run(py, async |store| store.set_many(&entries, ttl).await)
    }

    /// `store.delete-many`.
    fn delete_many(&self, py: Python<'_>, keys: Vec<String>) -> PyResult<()> {
        self.run(py, async |store| store.delete_many(&keys).await)
    }

    /// `store.clear`.
    fn clear(&self, py: Python<'_>) -> PyResult<()> {
        self.run(py, async |store| store.clear().await)
    }

    /// `store.stats`: a dict of entries, bytes, estimated, oldest_ms, newest_ms.
    fn stats<'py>(&self, py: Python<'py>, estimate: bool) -> PyResult<Bound<'py, PyDict>> {
        let stats = self.run(py, async |store| store.stats(estimate).await)?;
        let dict = PyDict::new(py);
        dict.set_item("entries", stats.entries)?;
        dict.set_item("bytes", stats.bytes)?;
        dict.set_item("estimated", stats.estimated)?;
        dict.set_item("oldest_ms", stats.oldest_ms)?;
        dict.set_item("newest_ms", stats.newest_ms)?;
        Ok(dict)
    }
}

impl Store {
    /// Runs one component call with the GIL released, so other threads' calls proceed.
    fn run<T, F>(&self, py: Python<'_>, call: F) -> PyResult<T>
    where
        T: Send,
        F: AsyncFnOnce(&mut CacheStore) -> Outcome<T> + Send,
    {
        let outcome = py.detach(|| {
            let mut store = lock(&self.store);
            self.host.block_on(call(&mut store))
        });
        answer(py, outcome)
    }
}

/// A store's configuration as the package passes it: a dict of the bucket, the credentials,
/// and the settings as `(name, value)` text pairs (the table's names).
#[derive(FromPyObject)]
#[pyo3(from_item_all)]
struct StoreConfig {
    bucket: String,
    access_key_id: String,
    secret_access_key: String,
    session_token: Option<String>,
    settings: Vec<(String, String)>,
}

impl From<StoreConfig> for Config {
    fn from(config: StoreConfig) -> Config {
        Config {
            bucket: config.bucket,
            credentials: Credentials {
                access_key_id: config.access_key_id,
                secret_access_key: config.secret_access_key,
                session_token: config.session_token,
            },
            settings: config.settings,
        }
    }
}

/// Checks a store's config as the component's `open` does (the same core, compiled into the
/// extension), without starting the host: no thread, no compilation. Raises what `open` would.
#[pyfunction]
fn check_settings(py: Python<'_>, config: StoreConfig) -> PyResult<()> {
    let outcome = Config::from(config)
        .to_settings()
        .and_then(|settings| settings.validate());
    match outcome {
        Ok(()) => Ok(()),
        Err(s3cache::Error::InvalidSetting { setting, reason }) => {
            let invalid =
                CacheError::InvalidSetting(s3cache_runtime::InvalidSetting { setting, reason });
            answer(py, Ok(Err(invalid)))
        }
        Err(s3cache::Error::InvalidConfig(message)) => Err(error(py, "invalid-config", message)),
        Err(other) => Err(error(py, "invalid-config", other.to_string())),
    }
}

/// HTTP requests the component has sent from this process (for benchmarks and tests).
#[pyfunction]
fn requests_sent() -> PyResult<u64> {
    Ok(started_host().map_or(0, |host| host.runtime.requests_sent()))
}

/// This process's host if it has started one; asking must not start it (no thread before fork).
fn started_host() -> Option<Arc<Host>> {
    let slot = lock(&HOST);
    slot.as_ref()
        .filter(|host| host.pid == std::process::id())
        .map(Arc::clone)
}

/// Names the precompiled component the package ships; read when the host starts.
#[pyfunction]
fn use_precompiled(path: PathBuf) {
    *lock(&PRECOMPILED) = Some(path);
}

/// The warnings of this process's host not yet taken (each is handed over once).
#[pyfunction]
fn take_warnings() -> Vec<String> {
    started_host().map_or_else(Vec::new, |host| std::mem::take(&mut *lock(&host.warnings)))
}

/// How this process's host got the component's machine code: "precompiled" or "compiled";
/// None before it starts.
#[pyfunction]
fn code_origin() -> Option<&'static str> {
    started_host().map(|host| match host.runtime.code_origin() {
        CodeOrigin::Precompiled => "precompiled",
        CodeOrigin::Compiled => "compiled",
    })
}

/// A ttl as Python passes it: milliseconds, or a word ("default").
#[derive(FromPyObject)]
enum TtlArg {
    Millis(i64),
    Word(String),
}

/// None never expires; "default" is the store's default-timeout.
fn ttl_from(arg: Option<TtlArg>) -> PyResult<Ttl> {
    match arg {
        None => Ok(Ttl::Never),
        Some(TtlArg::Millis(millis)) => Ok(Ttl::Milliseconds(millis)),
        Some(TtlArg::Word(word)) if word == "default" => Ok(Ttl::Default),
        Some(TtlArg::Word(word)) => Err(pyo3::exceptions::PyValueError::new_err(format!(
            "a ttl is milliseconds, None or \"default\", not {word:?}"
        ))),
    }
}

/// The component's answer, its error raised as the `s3cache.errors` class of its WIT case.
fn answer<T>(py: Python<'_>, outcome: Outcome<T>) -> PyResult<T> {
    match outcome {
        Ok(Ok(value)) => Ok(value),
        Ok(Err(CacheError::InvalidSetting(invalid))) => {
            let message = format!("{}: {}", invalid.setting, invalid.reason);
            let raised = py.import("s3cache.errors").and_then(|errors| {
                let class = errors.getattr("InvalidSetting")?;
                class.call1((message, invalid.setting, invalid.reason))
            });
            Err(raised.map_or_else(|failed| failed, PyErr::from_value))
        }
        Ok(Err(cache_error)) => {
            let (case, message) = s3cache_runtime::case(&cache_error);
            Err(error(py, case, message.into_owned()))
        }
        // A trap: the component is broken, not the call's input or the server.
        Err(trap) => Err(error(py, "", format!("{trap:#}"))),
    }
}

/// An instance of the `s3cache.errors` class of `case` (the base class for "").
fn error(py: Python<'_>, case: &str, message: String) -> PyErr {
    let raised = py.import("s3cache.errors").and_then(|errors| {
        let class = match case {
            "" => errors.getattr("CacheError")?,
            case => errors.getattr("BY_CASE")?.get_item(case)?,
        };
        class.call1((message,))
    });
    match raised {
        Ok(exception) => PyErr::from_value(exception),
        Err(import_failed) => import_failed,
    }
}

/// The table of settings, a dict per setting: name, python (the keyword), django (the OPTIONS
/// key, or ""), django_fallbacks, env, syntax, default (None: unset), null (what None means,
/// or None), example, doc, secret. The package derives its keywords and Django's OPTIONS from
/// it and keeps no copy.
#[pyfunction]
fn settings_table(py: Python<'_>) -> PyResult<Bound<'_, PyList>> {
    let rows = PyList::empty(py);
    for row in SETTINGS {
        let dict = PyDict::new(py);
        dict.set_item("name", row.name)?;
        dict.set_item("python", row.python_name())?;
        dict.set_item("django", row.django)?;
        dict.set_item("django_fallbacks", row.django_fallbacks.to_vec())?;
        dict.set_item("env", row.env.to_vec())?;
        dict.set_item("syntax", row.syntax)?;
        dict.set_item("default", row.default)?;
        dict.set_item("null", row.null)?;
        dict.set_item("example", row.example)?;
        dict.set_item("doc", row.doc)?;
        dict.set_item("secret", row.secret)?;
        rows.append(dict)?;
    }
    Ok(rows)
}

#[pymodule]
fn _native(module: &Bound<'_, PyModule>) -> PyResult<()> {
    module.add_class::<Store>()?;
    module.add_function(wrap_pyfunction!(requests_sent, module)?)?;
    module.add_function(wrap_pyfunction!(settings_table, module)?)?;
    module.add_function(wrap_pyfunction!(check_settings, module)?)?;
    module.add_function(wrap_pyfunction!(use_precompiled, module)?)?;
    module.add_function(wrap_pyfunction!(take_warnings, module)?)?;
    module.add_function(wrap_pyfunction!(code_origin, module)?)?;
    Ok(())
}
