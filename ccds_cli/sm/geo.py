"""Distances for "nearest region" routing, and approximate coordinates of cloud regions.

Nodes register with `--lat/--lon` (bootstrap fills them from `region_coords`); the manager places a
spec region at the mean of its nodes' coordinates. Coordinates are the metro area of each cloud
region (public knowledge, rounded): good enough to rank regions by distance.
"""

from __future__ import annotations

import math

# (cloud, region) -> (lat, lon). Regions of different clouds in one metro share coordinates.
_METROS = {
    "ashburn": (39.04, -77.49), "ohio": (40.0, -83.0), "oregon": (45.6, -121.2),
    "california": (37.4, -121.9), "montreal": (45.5, -73.6), "toronto": (43.7, -79.4),
    "saopaulo": (-23.5, -46.6), "dublin": (53.3, -6.3), "london": (51.5, -0.1),
    "paris": (48.9, 2.4), "frankfurt": (50.1, 8.7), "stockholm": (59.3, 18.1),
    "milan": (45.5, 9.2), "madrid": (40.4, -3.7), "amsterdam": (52.4, 4.9),
    "zurich": (47.4, 8.5), "mumbai": (19.1, 72.9), "singapore": (1.35, 103.8),
    "tokyo": (35.7, 139.7), "osaka": (34.7, 135.5), "seoul": (37.6, 127.0),
    "sydney": (-33.9, 151.2), "melbourne": (-37.8, 145.0), "hongkong": (22.3, 114.2),
    "jakarta": (-6.2, 106.8), "iowa": (41.3, -95.9), "southcarolina": (33.2, -80.0),
    "lasvegas": (36.2, -115.1), "dallas": (32.8, -96.8), "chicago": (41.9, -87.6),
    "newyork": (40.7, -74.0), "sanjose": (37.3, -121.9), "atlanta": (33.7, -84.4),
    "phoenix": (33.4, -112.1), "bangalore": (12.97, 77.6), "johannesburg": (-26.2, 28.0),
    "dubai": (25.2, 55.3), "telaviv": (32.1, 34.8), "virginia": (37.5, -78.0),
    "seattle": (47.6, -122.3), "losangeles": (34.05, -118.2), "miami": (25.8, -80.2),
}

_REGIONS = {
    "aws": {"us-east-1": "ashburn", "us-east-2": "ohio", "us-west-1": "california", "us-west-2": "oregon",
            "ca-central-1": "montreal", "sa-east-1": "saopaulo", "eu-west-1": "dublin", "eu-west-2": "london",
            "eu-west-3": "paris", "eu-central-1": "frankfurt", "eu-north-1": "stockholm", "eu-south-1": "milan",
            "eu-south-2": "madrid", "eu-central-2": "zurich", "ap-south-1": "mumbai",
            "ap-southeast-1": "singapore", "ap-southeast-2": "sydney", "ap-southeast-3": "jakarta",
            "ap-northeast-1": "tokyo", "ap-northeast-2": "seoul", "ap-northeast-3": "osaka",
            "ap-east-1": "hongkong", "af-south-1": "johannesburg", "me-central-1": "dubai"},
    "gcp": {"us-east4": "ashburn", "us-east1": "southcarolina", "us-central1": "iowa", "us-west1": "oregon",
            "us-west2": "losangeles", "us-west4": "lasvegas", "us-south1": "dallas",
            "northamerica-northeast1": "montreal", "northamerica-northeast2": "toronto",
            "southamerica-east1": "saopaulo", "europe-west1": "dublin", "europe-west2": "london",
            "europe-west3": "frankfurt", "europe-west4": "amsterdam", "europe-west9": "paris",
            "europe-north1": "stockholm", "europe-west8": "milan", "europe-southwest1": "madrid",
            "europe-west6": "zurich", "asia-south1": "mumbai", "asia-southeast1": "singapore",
            "asia-southeast2": "jakarta", "asia-northeast1": "tokyo", "asia-northeast2": "osaka",
            "asia-northeast3": "seoul", "asia-east2": "hongkong", "australia-southeast1": "sydney",
            "me-west1": "telaviv"},
    "azure": {"eastus": "virginia", "eastus2": "virginia", "centralus": "iowa", "southcentralus": "dallas",
              "westus": "california", "westus2": "seattle", "westus3": "phoenix", "canadacentral": "toronto",
              "brazilsouth": "saopaulo", "northeurope": "dublin", "westeurope": "amsterdam",
              "uksouth": "london", "francecentral": "paris", "germanywestcentral": "frankfurt",
              "swedencentral": "stockholm", "switzerlandnorth": "zurich", "centralindia": "mumbai",
              "southeastasia": "singapore", "japaneast": "tokyo", "japanwest": "osaka",
              "koreacentral": "seoul", "eastasia": "hongkong", "australiaeast": "sydney",
              "southafricanorth": "johannesburg", "uaenorth": "dubai"},
    "oci": {"us-ashburn-1": "ashburn", "us-phoenix-1": "phoenix", "us-sanjose-1": "sanjose",
            "us-chicago-1": "chicago", "ca-toronto-1": "toronto", "ca-montreal-1": "montreal",
            "sa-saopaulo-1": "saopaulo", "uk-london-1": "london", "eu-frankfurt-1": "frankfurt",
            "eu-amsterdam-1": "amsterdam", "eu-zurich-1": "zurich", "eu-paris-1": "paris",
            "eu-milan-1": "milan", "eu-madrid-1": "madrid", "eu-stockholm-1": "stockholm",
            "ap-mumbai-1": "mumbai", "ap-singapore-1": "singapore", "ap-tokyo-1": "tokyo",
            "ap-osaka-1": "osaka", "ap-seoul-1": "seoul", "ap-sydney-1": "sydney",
            "ap-melbourne-1": "melbourne", "me-dubai-1": "dubai", "af-johannesburg-1": "johannesburg"},
    "digitalocean": {"nyc1": "newyork", "nyc3": "newyork", "sfo3": "sanjose", "tor1": "toronto",
                     "lon1": "london", "fra1": "frankfurt", "ams3": "amsterdam", "sgp1": "singapore",
                     "blr1": "bangalore", "syd1": "sydney"},
    "linode": {"us-east": "newyork", "us-southeast": "atlanta", "us-central": "dallas", "us-west": "sanjose",
               "us-iad": "ashburn", "us-ord": "chicago", "us-lax": "losangeles", "us-mia": "miami",
               "us-sea": "seattle", "ca-central": "toronto", "eu-west": "london", "eu-central": "frankfurt",
               "fr-par": "paris", "nl-ams": "amsterdam", "se-sto": "stockholm", "it-mil": "milan",
               "es-mad": "madrid", "ap-south": "singapore", "ap-northeast": "tokyo", "ap-west": "mumbai",
               "ap-southeast": "sydney", "br-gru": "saopaulo", "id-cgk": "jakarta", "jp-osa": "osaka"},
}


def region_coords(cloud: str, region: str) -> tuple[float, float] | None:
    """Approximate (lat, lon) of a cloud region, or None when unknown (private clouds, `local`)."""
    metro = _REGIONS.get(cloud, {}).get(region)
    return _METROS[metro] if metro else None


def distance_km(a: tuple[float, float], b: tuple[float, float]) -> float:
    """Great-circle distance (haversine); the ranking only needs it monotonic in real distance."""
    lat1, lon1, lat2, lon2 = map(math.radians, (a[0], a[1], b[0], b[1]))
    h = math.sin((lat2 - lat1) / 2) ** 2 + math.cos(lat1) * math.cos(lat2) * math.sin((lon2 - lon1) / 2) ** 2
    return 6371.0 * 2 * math.asin(min(1.0, math.sqrt(h)))
