//! The `expectations` section: the roles the SP should give, from which groups.

use super::super::tree::Node;

use super::super::model::Expectations;
use super::super::reader::{self, At, Map, Pos, Sink, join};

/// Where a group mapping is written, for lint findings about it.
#[derive(Debug)]
pub(crate) struct MappingAt {
    pub(crate) role: At<String>,
    pub(crate) groups: Vec<At<String>>,
}

pub(crate) fn expectations(sink: &mut Sink, node: &Node) -> Option<(Expectations, Vec<MappingAt>)> {
    let m = Map::new(
        sink,
        node,
        "expectations",
        &[
            "default_role",
            "enforce_group_sync",
            "group_mappings",
            "role_precedence",
            "require_name",
        ],
    )?;
    let default_role = m.req_string(
        sink,
        "default_role",
        "the role a user gets when no mapping applies",
    );
    let enforce_group_sync = m.bool(sink, "enforce_group_sync").unwrap_or(false);
    let require_name = m.bool(sink, "require_name").unwrap_or(true);
    let (group_mappings, mapping_roles, mapping_at) = match m.get("group_mappings") {
        Some(n) => group_mappings(sink, n),
        None => Default::default(),
    };
    let precedence = m.strings(sink, "role_precedence");
    if let (Some(p), Some(d)) = (&precedence, &default_role) {
        if !p.iter().any(|r| r.value == d.value) {
            let listed: Vec<&str> = p.iter().map(|r| r.value.as_str()).collect();
            sink.error(
                d.pos,
                &d.path,
                format!(
                    "the default role `{}` is missing from `role_precedence` ({}); add it there (usually last)",
                    d.value,
                    listed.join(", ")
                ),
            );
        }
    }
    if let Some(p) = &precedence {
        reader::report_duplicates(sink, p, "role");
        for role in &mapping_roles {
            if !p.iter().any(|r| r.value == role.value) {
                sink.warning(
                    role.pos,
                    &role.path,
                    format!(
                        "role `{}` is mapped but missing from `role_precedence`; a user in several mapped groups has no defined role",
                        role.value
                    ),
                );
            }
        }
    } else if mapping_roles.len() > 1 {
        sink.warning(
            m.key_pos("group_mappings"),
            "expectations.group_mappings",
            "several roles are mapped but `role_precedence` is not set; users matching several mappings cannot be checked",
        );
    }
    let exp = Expectations {
        default_role: default_role?.value,
        enforce_group_sync,
        group_mappings,
        role_precedence: precedence
            .unwrap_or_default()
            .into_iter()
            .map(|r| r.value)
            .collect(),
        require_name,
    };
    Some((exp, mapping_at))
}

/// What `group_mappings` reads as: the mappings (role, groups), and where each role and group
/// is written.
type Mappings = (Vec<(String, Vec<String>)>, Vec<At<String>>, Vec<MappingAt>);

fn group_mappings(sink: &mut Sink, n: &Node) -> Mappings {
    let mut group_mappings = Vec::new();
    let mut mapping_roles: Vec<At<String>> = Vec::new();
    let mut mapping_at = Vec::new();
    let mpath = "expectations.group_mappings";
    match n.as_mapping() {
        Some(map) => {
            for (role, groups) in map.iter() {
                let p = join(mpath, role.as_str());
                let role_at = At {
                    value: role.as_str().to_owned(),
                    pos: Pos::of(role.span()),
                    path: p.clone(),
                };
                mapping_roles.push(role_at.clone());
                if let Some(g) = reader::strings(sink, groups, &p) {
                    if g.is_empty() {
                        sink.warning(
                            Pos::of(groups.span()),
                            &p,
                            format!("role `{}` maps no group", role.as_str()),
                        );
                    }
                    group_mappings.push((
                        role.as_str().to_owned(),
                        g.iter().map(|a| a.value.clone()).collect(),
                    ));
                    mapping_at.push(MappingAt {
                        role: role_at,
                        groups: g,
                    });
                }
            }
        }
        None => sink.error(
            Pos::of(n.span()),
            mpath,
            format!(
                "expected a mapping of role to a list of IdP groups, found {}",
                reader::kind(n)
            ),
        ),
    }
    (group_mappings, mapping_roles, mapping_at)
}
