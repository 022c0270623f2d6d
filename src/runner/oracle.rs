//! The runner's role oracle: from the connection file alone, the role an SP must give a user,
//! and how that follows (`groups [Eng, Qovery-Admins] -> filter regex .*Qovery.* ->
//! [Qovery-Admins] -> mapping admin`).
//!
//! Architecture invariant: written independently of the reference SP's role rules; the two must
//! never share code, or testing one against the other would prove nothing.

use crate::config::{Directory, Expectations, GroupStatement, WhenNone};

/// The expectations with every mapped group named by its directory name: a mapping may name a
/// group by the object id the file gives it (`directory.groups`, as an SP behind Entra is
/// configured), and the IdP's directory, filters and the role matrix speak of names. Whatever
/// the flavor writes in the token for a group (its name, its object id, its path) stands for
/// that one group, so comparing names is comparing what is sent.
pub fn by_name(exp: &Expectations, directory: &Directory) -> Expectations {
    let mut out = exp.clone();
    for (_, groups) in &mut out.group_mappings {
        for g in groups.iter_mut() {
            *g = directory.group_name(g).to_owned();
        }
    }
    out
}

/// The expected role and its derivation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Expected {
    pub role: String,
    pub derivation: String,
}

/// The groups the IdP sends: None when it sends no groups attribute/claim at all.
pub fn sent_groups(
    statement: Option<&GroupStatement>,
    user_groups: &[String],
    omitted: bool,
) -> Option<Vec<String>> {
    let statement = statement?;
    if omitted {
        return None;
    }
    let passing: Vec<String> = user_groups
        .iter()
        .filter(|g| statement.filter.passes(g))
        .cloned()
        .collect();
    match (passing.is_empty(), statement.when_none) {
        (true, WhenNone::Absent) => None,
        _ => Some(passing),
    }
}

fn list(v: &[String]) -> String {
    format!("[{}]", v.join(", "))
}

/// The role a login must get under the file's expectations (R1-R4).
pub fn expected_role(
    exp: &Expectations,
    statement: Option<&GroupStatement>,
    user_groups: &[String],
    omitted: bool,
) -> Expected {
    let mut why = format!("groups {}", list(user_groups));
    let sent = match statement {
        None => {
            why.push_str(" -> the app has no group statement -> nothing sent");
            None
        }
        Some(_) if omitted => {
            why.push_str(" -> groups attribute left out by the scenario");
            None
        }
        Some(s) => {
            let sent = sent_groups(statement, user_groups, false);
            match &sent {
                Some(g) => why.push_str(&format!(" -> filter {} -> {}", s.filter, list(g))),
                None => why.push_str(&format!(
                    " -> filter {} -> none pass, no groups attribute",
                    s.filter
                )),
            }
            sent
        }
    };
    if !exp.enforce_group_sync {
        why.push_str(&format!(
            " -> group sync off -> default role {}",
            exp.default_role
        ));
        return Expected {
            role: exp.default_role.clone(),
            derivation: why,
        };
    }
    let sent = sent.unwrap_or_default();
    let mut candidates: Vec<(usize, &str, &str)> = Vec::new();
    for (order, (role, groups)) in exp.group_mappings.iter().enumerate() {
        if let Some(g) = groups.iter().find(|g| sent.contains(g)) {
            let rank = exp
                .role_precedence
                .iter()
                .position(|r| r == role)
                .unwrap_or(exp.role_precedence.len() + order);
            candidates.push((rank, role, g));
        }
    }
    candidates.sort();
    match candidates.as_slice() {
        [] => {
            why.push_str(&format!(
                " -> no mapping -> default role {}",
                exp.default_role
            ));
            Expected {
                role: exp.default_role.clone(),
                derivation: why,
            }
        }
        [(_, role, group)] => {
            why.push_str(&format!(" -> mapping {role} (group {group})"));
            Expected {
                role: (*role).to_owned(),
                derivation: why,
            }
        }
        several => {
            let names: Vec<&str> = several.iter().map(|(_, r, _)| *r).collect();
            why.push_str(&format!(
                " -> mappings {} -> precedence {} -> {}",
                names.join(", "),
                list(&exp.role_precedence),
                several[0].1
            ));
            Expected {
                role: several[0].1.to_owned(),
                derivation: why,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::GroupFilter;

    fn exp() -> Expectations {
        Expectations {
            default_role: "viewer".into(),
            enforce_group_sync: true,
            group_mappings: vec![
                ("admin".into(), vec!["Qovery-Admins".into()]),
                ("devops".into(), vec!["Qovery-DevOps".into()]),
            ],
            role_precedence: vec!["admin".into(), "devops".into(), "viewer".into()],
            require_name: true,
        }
    }

    fn statement() -> GroupStatement {
        GroupStatement {
            full_path: true,
            attribute: "groups".into(),
            filter: GroupFilter::regex(".*Qovery.*").unwrap(),
            when_none: WhenNone::Absent,
        }
    }

    fn g(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn derivations_read_like_the_design_says() {
        let e = expected_role(
            &exp(),
            Some(&statement()),
            &g(&["Eng", "Qovery-Admins"]),
            false,
        );
        assert_eq!(e.role, "admin");
        assert_eq!(
            e.derivation,
            "groups [Eng, Qovery-Admins] -> filter regex .*Qovery.* -> [Qovery-Admins] -> mapping admin (group Qovery-Admins)"
        );
        let e = expected_role(
            &exp(),
            Some(&statement()),
            &g(&["Qovery-DevOps", "Qovery-Admins"]),
            false,
        );
        assert_eq!(e.role, "admin");
        assert!(
            e.derivation.ends_with(
                "-> mappings admin, devops -> precedence [admin, devops, viewer] -> admin"
            )
        );
        let e = expected_role(&exp(), Some(&statement()), &g(&["Eng"]), false);
        assert_eq!(e.role, "viewer");
        let mut off = exp();
        off.enforce_group_sync = false;
        assert_eq!(
            expected_role(&off, Some(&statement()), &g(&["Qovery-Admins"]), false).role,
            "viewer"
        );
        assert_eq!(
            expected_role(&exp(), Some(&statement()), &g(&["Qovery-Admins"]), true).role,
            "viewer"
        );
    }
}
