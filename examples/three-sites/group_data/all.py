"""The third site's public name joins the other two. pyinfra merges group data key by key, so
only `sites` is restated here; every other shared fact comes from the project's group_data/."""

sites = {
    "aitbc.bubuit.net": {"scheme": "https", "certificate": "bubuit.net"},
    "aitbc.keisanki.net": {"scheme": "https", "certificate": "keisanki.net"},
    "aitbc.ns4.example": {"scheme": "http"},
}
