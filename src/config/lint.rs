//! Cross-checks between sections that make a valid file say something it cannot mean: warnings
//! (lint findings), reported after every section has been read.

use super::load::{Declared, MappingAt};
use super::model::*;
use super::reader::Sink;

/// A mapped group that the target app's group filter never emits makes its role unreachable.
/// Findings are placed at the role (no group is sent at all) or at the group that is never sent.
/// An app whose group statement is itself in error is left alone: that error says it all.
pub(super) fn lint_mappings(
    sink: &mut Sink,
    at: &[MappingAt],
    apps: &[App],
    declared: &Declared,
    target: &Target,
) {
    let Some(app) = apps.iter().find(|a| a.id == target.app) else {
        return;
    };
    if declared.apps_with_bad_groups.contains(&app.id) {
        return;
    }
    for m in at {
        let role = &m.role.value;
        match &app.groups {
            None => sink.warning(
                m.role.pos,
                &m.role.path,
                format!(
                    "app `{}` has no `groups` statement, so it never sends groups: role `{role}` can never be given by this mapping",
                    app.id
                ),
            ),
            Some(gs) => {
                for g in m.groups.iter().filter(|g| !gs.filter.passes(&g.value)) {
                    sink.warning(
                        g.pos,
                        &g.path,
                        format!(
                            "app `{}` never sends group `{}`: its group filter ({}) drops it, so this mapping to role `{role}` can never apply",
                            app.id, g.value, gs.filter
                        ),
                    );
                }
            }
        }
    }
}
