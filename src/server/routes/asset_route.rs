//! The embedded files: served from [`crate::server::assets`]'s fixed table in the coding the
//! client accepts, and the two redirects that lead to Swagger UI's folder.

use super::App;
use crate::http::{Request, Response, Status};
use crate::log;
use crate::server::assets::{self, Asset, Coding};
use crate::server::inflate;

impl App {
    /// `/swagger-ui`: the folder's URL ends in `/`, so its relative links resolve.
    pub(super) fn swagger_ui_slash(&self, _: &Request) -> Response {
        Response::text(Status::PermanentRedirect, "see /swagger-ui/")
            .header("Location", "/swagger-ui/")
    }

    /// As the reference (Go's file server) does: the index is served at the folder's URL.
    pub(super) fn swagger_ui_index(&self, _: &Request) -> Response {
        Response::text(Status::MovedPermanently, "see ./").header("Location", "./")
    }
}

/// An embedded file: a compressed one as stored to clients that accept gzip, decoded (ours) or
/// refused with 406 (Swagger UI's) to the others.
pub(super) fn serve_asset(asset: &'static Asset, request: &Request) -> Response {
    let accepts_gzip = || assets::accepts_gzip(request.header("Accept-Encoding"));
    let response = match asset.coding {
        Coding::Identity => Response::new(Status::Ok, asset.content_type, asset.body),
        Coding::Gzip | Coding::GzipOnly if accepts_gzip() => {
            Response::new(Status::Ok, asset.content_type, asset.body)
                .header("Content-Encoding", "gzip")
                .header("Vary", "Accept-Encoding")
        }
        Coding::Gzip => match inflate::gunzip(asset.body) {
            Ok(plain) => Response::new(Status::Ok, asset.content_type, plain)
                .header("Vary", "Accept-Encoding"),
            Err(error) => {
                log::error(&format!(
                    "{}: embedded file does not decode: {error}",
                    request.path
                ));
                return Response::text(Status::InternalServerError, "internal server error");
            }
        },
        Coding::GzipOnly => return Response::text(
            Status::NotAcceptable,
            "Accept-Encoding: this file is only served gzip-encoded; send Accept-Encoding: gzip",
        )
        .header("Vary", "Accept-Encoding"),
    };
    let response = response.header("Cache-Control", asset.cache_control);
    match asset.csp {
        Some(csp) => response.header("Content-Security-Policy", csp),
        None => response,
    }
}

#[cfg(test)]
mod tests {
    use crate::http::Status;
    use crate::server::routes::tests::{app, get};

    #[test]
    fn swagger_ui_index_redirects_to_its_folder() {
        let a = app(&[]);
        let r = a.route(&get("/swagger-ui/index.html", &[]));
        assert_eq!(
            (r.status, r.get_header("Location")),
            (Status::MovedPermanently, Some("./"))
        );
        let r = a.route(&get("/swagger-ui", &[]));
        assert_eq!(r.get_header("Location"), Some("/swagger-ui/"));
    }
}
