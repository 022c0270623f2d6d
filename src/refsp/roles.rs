//! The SP's role rules, Qovery style (R1-R4 in docs/catalogue.md): with group sync on, a user's IdP
//! groups that map to roles give the highest role by precedence; otherwise the default role.
//!
//! Architecture invariant: this is the reference SP's own implementation. It must never share
//! code with the runner's role oracle, or testing one against the other would prove nothing.

use super::flaws::{Flaw, Flaws};
use crate::config::Expectations;

/// Groups sent as full paths (Keycloak: `/Qovery-Admins`), as the groups they name
/// (`Qovery-Admins`); a value without the leading `/` is kept as it is.
pub fn from_paths(groups: Option<Vec<String>>) -> Option<Vec<String>> {
    groups.map(|gs| {
        gs.into_iter()
            .map(|g| g.strip_prefix('/').map_or(g.clone(), str::to_owned))
            .collect()
    })
}

/// The role a login gets. `groups` is None when the assertion/token had no groups at all.
pub fn assign(settings: &Expectations, groups: Option<&[String]>, flaws: &Flaws) -> String {
    if !settings.enforce_group_sync || flaws.on(Flaw::IgnoreGroups) {
        return settings.default_role.clone();
    }
    let Some(groups) = groups else {
        return settings.default_role.clone();
    };
    let maps = |role: &str, group: &str| {
        settings
            .group_mappings
            .iter()
            .any(|(r, gs)| r == role && gs.iter().any(|g| g == group))
    };
    if flaws.on(Flaw::FirstMatchingGroup) {
        for g in groups {
            if let Some((role, _)) = settings.group_mappings.iter().find(|(r, _)| maps(r, g)) {
                return role.clone();
            }
        }
        return settings.default_role.clone();
    }
    let mut matched: Vec<&str> = settings
        .group_mappings
        .iter()
        .filter(|(role, _)| groups.iter().any(|g| maps(role, g)))
        .map(|(role, _)| role.as_str())
        .collect();
    // Highest precedence first; roles missing from the precedence list come after, in file order.
    matched.sort_by_key(|role| {
        settings
            .role_precedence
            .iter()
            .position(|r| r == role)
            .unwrap_or(usize::MAX)
    });
    matched
        .first()
        .map(|r| (*r).to_owned())
        .unwrap_or_else(|| settings.default_role.clone())
}

/// The role of a login, or why it is refused: only the `refuse-unmapped-users` defect refuses,
/// users in no mapped group (who get the default role otherwise).
pub fn role_for(
    settings: &Expectations,
    groups: Option<&[String]>,
    flaws: &Flaws,
) -> Result<String, &'static str> {
    let mapped = groups.unwrap_or_default().iter().any(|g| {
        settings
            .group_mappings
            .iter()
            .any(|(_, gs)| gs.iter().any(|m| m == g))
    });
    if flaws.on(Flaw::RefuseUnmappedUsers) && !mapped {
        return Err("the user is in no group that maps to a role");
    }
    Ok(assign(settings, groups, flaws))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(sync: bool) -> Expectations {
        Expectations {
            default_role: "viewer".into(),
            enforce_group_sync: sync,
            group_mappings: vec![
                ("devops".into(), vec!["Qovery-DevOps".into()]),
                ("admin".into(), vec!["Qovery-Admins".into()]),
            ],
            role_precedence: vec!["admin".into(), "devops".into(), "viewer".into()],
            require_name: true,
        }
    }

    fn g(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn r1_to_r4() {
        let s = settings(true);
        let none = Flaws::none();
        assert_eq!(assign(&s, Some(&g(&["Qovery-Admins"])), &none), "admin");
        assert_eq!(assign(&s, Some(&g(&["Eng"])), &none), "viewer");
        assert_eq!(assign(&s, None, &none), "viewer");
        assert_eq!(
            assign(&settings(false), Some(&g(&["Qovery-Admins"])), &none),
            "viewer"
        );
        let both = g(&["Qovery-DevOps", "Qovery-Admins"]);
        assert_eq!(assign(&s, Some(&both), &none), "admin");
        // Case matters (R6: the reference SP compares names exactly).
        assert_eq!(assign(&s, Some(&g(&["qovery-admins"])), &none), "viewer");
    }

    #[test]
    fn flaws_bend_exactly_their_rule() {
        let s = settings(true);
        let both = g(&["Qovery-DevOps", "Qovery-Admins"]);
        let first = Flaws::none().with(Flaw::FirstMatchingGroup);
        assert_eq!(assign(&s, Some(&both), &first), "devops");
        assert_eq!(assign(&s, Some(&g(&["Qovery-Admins"])), &first), "admin");
        let nosync = Flaws::none().with(Flaw::IgnoreGroups);
        assert_eq!(assign(&s, Some(&g(&["Qovery-Admins"])), &nosync), "viewer");
        // Unmapped users get the default role, unless `refuse-unmapped-users` refuses them.
        let none = Flaws::none();
        assert_eq!(role_for(&s, Some(&g(&["Eng"])), &none), Ok("viewer".into()));
        assert_eq!(role_for(&s, None, &none), Ok("viewer".into()));
        let refuse = Flaws::none().with(Flaw::RefuseUnmappedUsers);
        assert!(role_for(&s, Some(&g(&["Eng"])), &refuse).is_err());
        assert!(role_for(&s, None, &refuse).is_err());
        assert_eq!(
            role_for(&s, Some(&g(&["Eng", "Qovery-DevOps"])), &refuse),
            Ok("devops".into())
        );
    }
}
