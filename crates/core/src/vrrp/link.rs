//! Link failure in the VRRP machine: the Fault state.
//!
//! Contract: [`Input::LinkDown`] takes a Backup or Master to Fault: its timer is cancelled, a
//! master releases the VIPs ([`Output::BecomeBackup`]) and sends no priority-0 advert (the link
//! cannot carry it; the peers' Master_Down_Timer runs out instead). In Fault adverts and timeouts
//! are ignored and a priority change is only recorded. [`Input::LinkUp`] takes Fault back in as
//! Startup does (RFC 3768 §6.4.1 / RFC 5798 §6.4.1): Backup with a fresh Master_Down_Timer, or
//! Master at once for the address owner. A link event that changes nothing (down while down, up
//! while not in Fault) is counted as ignored.

use std::time::Instant;

use super::{Family, Machine, Output, Reason, State, PRIORITY_OWNER};

impl<A: Family> Machine<A> {
    pub(super) fn link_down(&mut self, now: Instant) {
        match self.state {
            State::Initialize | State::Fault => {
                self.counters.inputs_ignored += 1;
                return;
            }
            State::Backup => {}
            State::Master => self.outputs.push_back(Output::BecomeBackup),
        }
        self.timer = None;
        self.master = None;
        self.enter(now, State::Fault, Reason::LinkDown);
    }

    pub(super) fn link_up(&mut self, now: Instant) {
        if self.state != State::Fault {
            self.counters.inputs_ignored += 1;
            return;
        }
        if self.config.priority == PRIORITY_OWNER {
            self.become_master(now, Reason::AddressOwner);
        } else {
            self.master_adver_interval_cs = self.config.advert_interval_cs;
            self.become_backup(now, Reason::LinkUp, None);
        }
    }
}

#[cfg(test)]
#[rustfmt::skip]
mod tests {
    use super::super::*;

    const SECOND: u64 = 1_000_000;
    const LOCAL: Ipv4Addr = Ipv4Addr::new(10, 235, 210, 43);
    const PEER: Ipv4Addr = Ipv4Addr::new(10, 235, 210, 44);

    fn config(priority: u8) -> Config {
        Config {
            version: Version::V2,
            vrid: 7,
            priority,
            advert_interval_cs: 100,
            preempt: true,
            primary_address: LOCAL,
            addresses: vec![Ipv4Addr::new(10, 235, 210, 1)],
            auth: Auth::None,
            peers: Vec::new(),
        }
    }

    fn step(m: &mut Machine, t0: Instant, at: u64, input: Option<Input>) -> Vec<Output> {
        let now = t0 + Duration::from_micros(at);
        match input {
            Some(input) => m.handle_input(now, input),
            None => m.handle_timeout(now),
        }
        std::iter::from_fn(|| m.poll_output()).collect()
    }

    fn tr(from: State, to: State, reason: Reason) -> Output {
        Output::Transition(Transition { from, to, reason })
    }

    fn advert(priority: u8) -> Input {
        Input::Advert(Advert { source: PEER, priority, advert_interval_cs: 100 })
    }

    #[test]
    fn a_master_whose_link_goes_down_releases_the_vip_and_falls_silent() {
        let t0 = Instant::now();
        let mut m = Machine::new(config(200));
        step(&mut m, t0, 0, Some(Input::Startup));
        step(&mut m, t0, 3_218_750, None);
        assert_eq!(m.state(), State::Master);
        let out = step(&mut m, t0, 4 * SECOND, Some(Input::LinkDown));
        assert_eq!(out, vec![Output::BecomeBackup, tr(State::Master, State::Fault, Reason::LinkDown)]);
        assert_eq!(m.poll_timeout(), None);
        assert_eq!(m.master_address(), None);
        // No advert and no takeover however long it stays down, whatever arrives.
        assert_eq!(step(&mut m, t0, 60 * SECOND, None), vec![]);
        assert_eq!(step(&mut m, t0, 61 * SECOND, Some(advert(100))), vec![]);
        assert_eq!(step(&mut m, t0, 62 * SECOND, Some(Input::SetPriority(255))), vec![]);
        assert_eq!(m.state(), State::Fault);
        assert_eq!(step(&mut m, t0, 63 * SECOND, Some(Input::LinkDown)), vec![]);
        assert_eq!(m.counters().inputs_ignored, 2);
    }

    #[test]
    fn link_up_rejoins_as_backup_and_preempts_only_after_the_master_down_interval() {
        let t0 = Instant::now();
        let mut m = Machine::new(config(200));
        step(&mut m, t0, 0, Some(Input::Startup));
        step(&mut m, t0, SECOND, Some(Input::LinkDown));
        let out = step(&mut m, t0, 10 * SECOND, Some(Input::LinkUp));
        assert_eq!(out, vec![tr(State::Fault, State::Backup, Reason::LinkUp)]);
        // RFC 3768 §6.1: 3 s + 56/256 s from the link coming back.
        let down = t0 + Duration::from_micros(10 * SECOND + 3_218_750);
        assert_eq!(m.poll_timeout(), Some(down));
        // The peer that took over is heard: it stays master while it outranks us.
        step(&mut m, t0, 11 * SECOND, Some(advert(250)));
        assert_eq!(m.master_address(), Some(PEER));
        assert_eq!(m.state(), State::Backup);
        // Up while not in Fault changes nothing.
        assert_eq!(step(&mut m, t0, 12 * SECOND, Some(Input::LinkUp)), vec![]);
    }

    #[test]
    fn the_owner_takes_over_at_once_when_its_link_is_back_and_shutdown_from_fault_is_silent() {
        let t0 = Instant::now();
        let mut m = Machine::new(config(255));
        step(&mut m, t0, 0, Some(Input::Startup));
        step(&mut m, t0, SECOND, Some(Input::LinkDown));
        let out = step(&mut m, t0, 2 * SECOND, Some(Input::LinkUp));
        assert_eq!(out, vec![
            Output::SendAdvert { priority: 255 },
            Output::BecomeMaster,
            tr(State::Fault, State::Master, Reason::AddressOwner),
        ]);
        step(&mut m, t0, 3 * SECOND, Some(Input::LinkDown));
        let out = step(&mut m, t0, 4 * SECOND, Some(Input::Shutdown));
        assert_eq!(out, vec![tr(State::Fault, State::Initialize, Reason::Shutdown)]);
    }
}
