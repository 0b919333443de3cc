//! Authentication at the gRPC edge: the interceptor turns a bearer token into the caller's
//! [`Principal`] (tokens are checked by [`Tokens`]: hashed at rest, compared in constant time),
//! and each handler takes its typed caller ([`Operator`], [`Investigator`], [`Admin`],
//! [`Mirror`]) from the request, which refuses every other role.

use tonic::{Request, Status};

pub use crate::config::tokens::{Principal, Tokens, token_hash};

/// The interceptor: a valid `authorization: Bearer <token>` puts its [`Principal`] into the
/// request; anything else is UNAUTHENTICATED, and counted in `refused` for the audit log.
pub fn interceptor(
    tokens: std::sync::Arc<Tokens>,
    refused: std::sync::Arc<super::state::State>,
) -> impl Fn(Request<()>) -> Result<Request<()>, Status> + Clone {
    move |mut req: Request<()>| {
        let refuse = |why: &str| {
            refused
                .refused
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            Status::unauthenticated(why.to_string())
        };
        let token = req
            .metadata()
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .ok_or_else(|| refuse("missing `authorization: Bearer <token>`"))?;
        let p = tokens
            .check(token.trim())
            .ok_or_else(|| refuse("unknown token"))?;
        req.extensions_mut().insert(p);
        Ok(req)
    }
}

/// A role a handler requires: the typed caller it gets from a request's [`Principal`].
pub trait Caller: Sized {
    /// The role's name, as tokens files and error messages write it.
    const ROLE: &'static str;
    /// The caller, when the principal has this role.
    fn from_principal(p: Principal) -> Option<Self>;

    /// The authenticated caller of `req`: UNAUTHENTICATED without one, PERMISSION_DENIED when
    /// its token is of another role.
    fn of<T>(req: &Request<T>) -> Result<Self, Status> {
        let p = req
            .extensions()
            .get::<Principal>()
            .cloned()
            .ok_or_else(|| Status::unauthenticated("not authenticated"))?;
        let role = p.role();
        Self::from_principal(p).ok_or_else(|| {
            Status::permission_denied(format!(
                "this call needs the {} role; the token is an {role} token",
                Self::ROLE
            ))
        })
    }
}

/// A platform operator submitting media for a tenant.
#[derive(Debug, Clone)]
pub struct Operator {
    /// The tenant.
    pub tenant: String,
}

/// An investigator of one unit.
#[derive(Debug, Clone)]
pub struct Investigator {
    /// The unit.
    pub unit: String,
}

/// An administrator.
#[derive(Debug, Clone)]
pub struct Admin {
    /// Name for the audit trail.
    pub name: String,
}

/// A regional hashguard server that mirrors this one's lists.
#[derive(Debug, Clone)]
pub struct Mirror {
    /// Name for the audit trail.
    pub name: String,
}

impl Caller for Operator {
    const ROLE: &'static str = "operator";
    fn from_principal(p: Principal) -> Option<Self> {
        match p {
            Principal::Operator { tenant } => Some(Operator { tenant }),
            _ => None,
        }
    }
}

impl Caller for Investigator {
    const ROLE: &'static str = "investigator";
    fn from_principal(p: Principal) -> Option<Self> {
        match p {
            Principal::Investigator { unit } => Some(Investigator { unit }),
            _ => None,
        }
    }
}

impl Caller for Admin {
    const ROLE: &'static str = "admin";
    fn from_principal(p: Principal) -> Option<Self> {
        match p {
            Principal::Admin { name } => Some(Admin { name }),
            _ => None,
        }
    }
}

impl Caller for Mirror {
    const ROLE: &'static str = "mirror";
    fn from_principal(p: Principal) -> Option<Self> {
        match p {
            Principal::Mirror { name } => Some(Mirror { name }),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_caller_of_another_role_is_refused() {
        let mut req = Request::new(());
        assert_eq!(
            Operator::of(&req).unwrap_err().code(),
            tonic::Code::Unauthenticated
        );
        req.extensions_mut().insert(Principal::Investigator {
            unit: "unit-a".into(),
        });
        assert_eq!(Investigator::of(&req).unwrap().unit, "unit-a");
        let refused = Operator::of(&req).unwrap_err();
        assert_eq!(refused.code(), tonic::Code::PermissionDenied);
        assert!(refused.message().contains("operator role"));
    }
}
