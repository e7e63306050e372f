//! Where a data plane that starts and stops while the daemon runs (the DSR plane) is found by
//! the ones that use it, without a process global.
//!
//! Contract: the daemon owns one [`PlaneSlot`] per such plane and hands its writing side to the
//! plane's driver only, which [`PlaneSlot::fill`]s it once the plane runs and
//! [`PlaneSlot::clear`]s it before shutting the plane down. Every other user gets a read-only
//! [`PlaneView`] at spawn time, narrowed to the role it needs (the plane's own type, or a trait
//! such as [`super::data_plane::DataPlane`] or [`super::data_plane::VipSwitch`]), and asks
//! [`PlaneView::current`] whenever it acts: a cheap, lock-free load that sees the plane from the
//! moment it is filled in. Views of a plane that is always there (the proxy) come from
//! [`PlaneView::always`].

use std::fmt;
use std::sync::Arc;

use arc_swap::ArcSwapOption;

/// The writing side: filled by the plane's driver while the plane runs.
pub struct PlaneSlot<P> {
    current: Arc<ArcSwapOption<P>>,
}

impl<P> Clone for PlaneSlot<P> {
    fn clone(&self) -> Self {
        PlaneSlot {
            current: self.current.clone(),
        }
    }
}

impl<P> Default for PlaneSlot<P> {
    fn default() -> Self {
        PlaneSlot {
            current: Arc::new(ArcSwapOption::empty()),
        }
    }
}

impl<P: Send + Sync + 'static> PlaneSlot<P> {
    pub fn new() -> PlaneSlot<P> {
        PlaneSlot::default()
    }

    /// Publishes the running plane.
    pub fn fill(&self, plane: Arc<P>) {
        self.current.store(Some(plane));
    }

    /// Withdraws the plane (before it shuts down).
    pub fn clear(&self) {
        self.current.store(None);
    }

    /// The running plane, if any.
    pub fn current(&self) -> Option<Arc<P>> {
        self.current.load_full()
    }

    /// A read-only view of the slot that sees the plane as `T` (`|p| p` for its own type,
    /// `|p| p as Arc<dyn Role>` for a role).
    pub fn view<T: ?Sized + Send + Sync + 'static>(
        &self,
        as_role: fn(Arc<P>) -> Arc<T>,
    ) -> PlaneView<T> {
        let current = self.current.clone();
        PlaneView {
            lookup: Arc::new(move || current.load_full().map(as_role)),
        }
    }
}

/// A user's read-only view of a plane that may or may not run (see the module doc).
pub struct PlaneView<T: ?Sized> {
    lookup: Arc<dyn Fn() -> Option<Arc<T>> + Send + Sync>,
}

impl<T: ?Sized> Clone for PlaneView<T> {
    fn clone(&self) -> Self {
        PlaneView {
            lookup: self.lookup.clone(),
        }
    }
}

impl<T: ?Sized + Send + Sync + 'static> PlaneView<T> {
    /// The plane now, if it runs.
    pub fn current(&self) -> Option<Arc<T>> {
        (self.lookup)()
    }

    /// A plane that runs as long as the daemon does.
    pub fn always(plane: Arc<T>) -> PlaneView<T> {
        PlaneView {
            lookup: Arc::new(move || Some(plane.clone())),
        }
    }
}

impl<T: ?Sized> fmt::Debug for PlaneView<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let running = (self.lookup)().is_some();
        f.debug_struct("PlaneView")
            .field("running", &running)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    trait Named: Send + Sync {
        fn name(&self) -> &'static str;
    }

    struct Plane;

    impl Named for Plane {
        fn name(&self) -> &'static str {
            "plane"
        }
    }

    #[test]
    fn views_see_the_plane_exactly_while_it_is_filled_in() {
        let slot = PlaneSlot::<Plane>::new();
        let own = slot.view(|p| p);
        let role: PlaneView<dyn Named> = slot.view(|p| p as Arc<dyn Named>);
        assert!(own.current().is_none() && role.current().is_none());
        slot.fill(Arc::new(Plane));
        assert!(own.current().is_some());
        assert_eq!(role.current().map(|p| p.name()), Some("plane"));
        slot.clear();
        assert!(role.clone().current().is_none());
    }

    #[test]
    fn a_view_of_a_plane_that_always_runs() {
        let always: PlaneView<dyn Named> = PlaneView::always(Arc::new(Plane));
        assert_eq!(always.current().map(|p| p.name()), Some("plane"));
        assert_eq!(format!("{always:?}"), "PlaneView { running: true }");
    }
}
