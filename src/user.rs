//! The user behind a token: an async lookup by `sub` (FoalTS `user` option) and the
//! [`CurrentUser`] extractor (its `FromRequestParts` lives with the other extractors).

use std::future::Future;
use std::ops::Deref;
use std::sync::Arc;

use crate::BoxFuture;
use http::Extensions;

use crate::error::BoxError;

/// The user the lookup found for the request's token.
///
/// ```
/// use tower_jwt_auth::CurrentUser;
///
/// #[derive(Clone)]
/// struct User { name: String }
///
/// async fn hello(CurrentUser(user): CurrentUser<User>) -> String {
///     format!("hello {}", user.name)
/// }
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct CurrentUser<U>(pub U);

impl<U> Deref for CurrentUser<U> {
    type Target = U;

    fn deref(&self) -> &U {
        &self.0
    }
}

/// Puts a found user into the request's extensions; erases the user type so the layer needs
/// no type parameter for it.
pub(crate) type InsertUser = Box<dyn FnOnce(&mut Extensions) + Send>;

/// The configured lookup, type-erased.
pub(crate) type UserLookup =
    Arc<dyn Fn(String) -> BoxFuture<'static, Result<Option<InsertUser>, BoxError>> + Send + Sync>;

pub(crate) fn erase<F, Fut, U, E>(lookup: F) -> UserLookup
where
    F: Fn(String) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<Option<U>, E>> + Send + 'static,
    U: Clone + Send + Sync + 'static,
    E: Into<BoxError>,
{
    Arc::new(move |sub| {
        let found = lookup(sub);
        Box::pin(async move {
            let user = found.await.map_err(Into::into)?;
            Ok(user.map(|user| {
                Box::new(move |extensions: &mut Extensions| {
                    extensions.insert(CurrentUser(user));
                }) as InsertUser
            }))
        })
    })
}
