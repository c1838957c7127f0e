//! The OpenAPI document, generated from the handlers' annotations.

use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityScheme};
use utoipa::{Modify, OpenApi};

#[derive(OpenApi)]
#[openapi(
    info(title = "statusd", description = "Ephemeral status stories with ad slots."),
    paths(
        super::ops::healthz, super::ops::readyz, super::ops::metrics, super::ops::openapi,
        super::users::get_contacts, super::users::put_contacts, super::users::get_settings, super::users::patch_settings,
        super::users::mute, super::users::unmute, super::users::erase_me,
        super::stories::create_story, super::stories::get_story, super::stories::delete_story, super::stories::story_media,
        super::stories::story_thumb, super::stories::view_story, super::stories::story_viewers, super::stories::react,
        super::stories::report, super::stories::my_stories,
        super::feed::get_feed,
        super::advertisers::create_advertiser, super::advertisers::get_advertiser, super::advertisers::rotate_api_key,
        super::creatives::create_creative, super::creatives::list_creatives, super::creatives::get_creative,
        super::creatives::creative_media, super::creatives::creative_thumb, super::creatives::admin_list_creatives,
        super::creatives::admin_get_creative, super::creatives::admin_creative_media, super::creatives::admin_creative_thumb,
        super::creatives::review_creative,
        super::campaigns::create_campaign, super::campaigns::list_campaigns, super::campaigns::get_campaign,
        super::campaigns::patch_campaign, super::campaigns::campaign_report,
        super::ads::impression, super::ads::click, super::ads::hide, super::ads::report, super::ads::why,
        super::ads::creative_media, super::ads::creative_thumb, super::ads::preferences, super::ads::block,
        super::ads::unblock, super::ads::admin_patch_user,
    ),
    modifiers(&Security)
)]
pub struct ApiDoc;

struct Security;

impl Modify for Security {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        for name in ["user", "advertiser", "admin"] {
            components.add_security_scheme(name, SecurityScheme::Http(Http::new(HttpAuthScheme::Bearer)));
        }
    }
}

pub fn document() -> utoipa::openapi::OpenApi {
    ApiDoc::openapi()
}
