//! [`CoroutineRegistry`]: tracing-subscriber's `Registry` with the current span kept per
//! coroutine.

use std::any::TypeId;
use std::cell::RefCell;
use std::fmt;
use std::sync::Once;

use tracing::span::{Attributes, Id, Record};
use tracing::subscriber::Interest;
use tracing::{Event, Metadata, Subscriber};
use tracing_core::LevelFilter;
use tracing_core::span::Current;
use tracing_subscriber::Registry;
use tracing_subscriber::layer::{Identity, Layered, SubscriberExt};
use tracing_subscriber::registry::{Data, LookupSpan};

/// A `tracing` subscriber whose current span follows the coroutine: tracing-subscriber's
/// [`Registry`] (it stores the spans, so `fmt` and every other layer work on it as they do on
/// the registry), except that the stack of entered spans — which the registry keeps per OS
/// thread — is kept per coroutine.
///
/// A coroutine can park in a span (a handler inside its request's span waits on a socket, a
/// lock, a sleep) and resume on another worker thread, while other coroutines run on the first
/// one: with a per-thread stack, events would then land in whichever span another request left
/// entered there. Here each coroutine has its own stack (may's coroutine-local storage; a plain
/// thread's is its own, as before), and a coroutine spawned with [`runtime::spawn`] or
/// [`runtime::go!`] starts inside the span its spawner was in (a hook of [`runtime::inherit`],
/// registered by [`new`](Self::new)).
///
/// Install it as the global default, with layers on top:
///
/// ```
/// use hyperf_http::server::CoroutineRegistry;
/// use tracing_subscriber::layer::SubscriberExt;
///
/// let subscriber = CoroutineRegistry::new().with(tracing_subscriber::fmt::layer());
/// tracing::subscriber::set_global_default(subscriber).unwrap();
/// ```
///
/// The global default, not `tracing::subscriber::with_default`: a scoped default is itself kept
/// per thread, and a coroutine that resumes on another thread would not find it.
///
/// A layer with a per-layer filter that disables the current span, when looking for the
/// nearest enabled ancestor, reads the registry's own per-thread stack, which is always empty
/// here: it sees no current span.
pub struct CoroutineRegistry {
    /// The registry, inside a `Layered` of nothing: its `try_close` is what tells the
    /// registry when a closing span can be removed when nothing is layered on top of us.
    inner: Layered<Identity, Registry>,
}

/// One entered span; `duplicate` when an outer entry of the same span is still on the stack
/// (only the outermost holds a reference).
struct Entered {
    id: Id,
    duplicate: bool,
}

may::coroutine_local!(static STACK: RefCell<Vec<Entered>> = RefCell::new(Vec::new()));

impl CoroutineRegistry {
    /// A registry with no spans; registers, once per process, the spawn hook that starts a
    /// child coroutine in its spawner's current span.
    pub fn new() -> Self {
        static HOOK: Once = Once::new();
        HOOK.call_once(|| runtime::inherit::on_spawn(inherit_current_span));
        CoroutineRegistry {
            inner: Registry::default().with(Identity::new()),
        }
    }

    /// The id of the innermost span the current coroutine (or thread) is in.
    fn current_id() -> Option<Id> {
        STACK.with(|stack| stack.borrow().last().map(|entered| entered.id.clone()))
    }
}

impl Default for CoroutineRegistry {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Debug for CoroutineRegistry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("CoroutineRegistry")
    }
}

/// The spawn hook: a child of a coroutine that is in a span enters that span for its life.
fn inherit_current_span() -> Option<runtime::inherit::Inherited> {
    // Only our stack counts: when it is empty, either no span is entered or another
    // subscriber is in use, whose spans we must not enter from here.
    CoroutineRegistry::current_id()?;
    let span = tracing::Span::current();
    if span.is_none() {
        return None;
    }
    Some(runtime::inherit::Inherited::new(move |body| {
        span.in_scope(body)
    }))
}

impl Subscriber for CoroutineRegistry {
    fn on_register_dispatch(&self, subscriber: &tracing::Dispatch) {
        self.inner.on_register_dispatch(subscriber);
    }

    fn register_callsite(&self, metadata: &'static Metadata<'static>) -> Interest {
        self.inner.register_callsite(metadata)
    }

    fn enabled(&self, metadata: &Metadata<'_>) -> bool {
        self.inner.enabled(metadata)
    }

    fn max_level_hint(&self) -> Option<LevelFilter> {
        self.inner.max_level_hint()
    }

    fn new_span(&self, attributes: &Attributes<'_>) -> Id {
        if !attributes.is_contextual() {
            return self.inner.new_span(attributes);
        }
        // The registry would take a contextual span's parent from its per-thread stack:
        // name this coroutine's instead.
        let (metadata, values) = (attributes.metadata(), attributes.values());
        match Self::current_id() {
            Some(parent) => self
                .inner
                .new_span(&Attributes::child_of(parent, metadata, values)),
            None => self.inner.new_span(&Attributes::new_root(metadata, values)),
        }
    }

    fn record(&self, span: &Id, values: &Record<'_>) {
        self.inner.record(span, values);
    }

    fn record_follows_from(&self, span: &Id, follows: &Id) {
        self.inner.record_follows_from(span, follows);
    }

    fn event_enabled(&self, event: &Event<'_>) -> bool {
        self.inner.event_enabled(event)
    }

    fn event(&self, event: &Event<'_>) {
        // Layers on top find a contextual event's span through `current_span`.
        self.inner.event(event);
    }

    fn enter(&self, span: &Id) {
        let duplicate = STACK.with(|stack| {
            let mut stack = stack.borrow_mut();
            let duplicate = stack.iter().any(|entered| entered.id == *span);
            stack.push(Entered {
                id: span.clone(),
                duplicate,
            });
            duplicate
        });
        if !duplicate {
            // An entered span stays alive until it is exited, as in the registry.
            self.inner.clone_span(span);
        }
    }

    fn exit(&self, span: &Id) {
        let removed = STACK.with(|stack| {
            let mut stack = stack.borrow_mut();
            let at = stack.iter().rposition(|entered| entered.id == *span)?;
            Some(stack.remove(at))
        });
        if let Some(Entered {
            id,
            duplicate: false,
        }) = removed
        {
            // Through the dispatcher, so that layers on top see the close it may be.
            tracing::dispatcher::get_default(|dispatch| dispatch.try_close(id.clone()));
        }
    }

    fn clone_span(&self, id: &Id) -> Id {
        self.inner.clone_span(id)
    }

    #[allow(deprecated)]
    fn drop_span(&self, id: Id) {
        self.inner.drop_span(id);
    }

    fn try_close(&self, id: Id) -> bool {
        self.inner.try_close(id)
    }

    fn current_span(&self) -> Current {
        let Some(id) = Self::current_id() else {
            return Current::none();
        };
        match self.inner.span_data(&id) {
            Some(data) => {
                let metadata = tracing_subscriber::registry::SpanData::metadata(&data);
                Current::new(id, metadata)
            }
            None => Current::none(),
        }
    }

    unsafe fn downcast_raw(&self, id: TypeId) -> Option<*const ()> {
        if id == TypeId::of::<Self>() {
            return Some(std::ptr::from_ref(self).cast());
        }
        // The registry (and the layered marker types) answer for themselves: a `Layered` on
        // top finds the `Registry` through this and drives its span removal at close.
        // SAFETY: the inner subscriber upholds `downcast_raw`'s contract for `id`, and it
        // lives as long as `self`.
        unsafe { self.inner.downcast_raw(id) }
    }
}

impl<'a> LookupSpan<'a> for CoroutineRegistry {
    type Data = Data<'a>;

    fn span_data(&'a self, id: &Id) -> Option<Data<'a>> {
        self.inner.span_data(id)
    }

    fn register_filter(&mut self) -> tracing_subscriber::filter::FilterId {
        self.inner.register_filter()
    }
}
