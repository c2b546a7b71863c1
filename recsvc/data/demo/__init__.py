"""``recsvc demo-data``: a seeded, realistic e-commerce app, written as canonical tables.

Real logs with pushes, send hours, opt-ins and churn are not public, so the service ships a
world it can train, evaluate and demo on. The story the simulator tells:

* **The shop.** ``n_items`` products in 12 categories (beauty, snacks, coffee & tea, baby,
  electronics, phone accessories, home, kitchen, fashion, sports, pet supplies, books), each
  with an en-US and a zh-CN title (brand + adjective + product noun + variant), a log-normal
  price per category in CNY, media URLs, a stock flag, tags and, for some (fresh food, local
  delivery), a short list of Chinese cities where it can be sold. Inside a category popularity
  is Zipf-like. Snacks, coffee & tea, baby, pet supplies (and, slower, beauty) are consumables
  that get bought again on a per-category cycle.
* **The people.** ``n_users`` users live in one of :data:`DEMO_CITIES` (mostly six Chinese
  cities on ``Asia/Shanghai``, some in Singapore, Tokyo, London, New York, San Francisco with
  their own IANA zones and DST). Each has hidden traits: 1-3 favourite categories, a price
  sensitivity, one or two peak hours of the *local* day (morning commute, lunch, evening, late
  night) around which sessions cluster, an activity level (heavy/regular/light), a shopping
  segment (browser, cart-abandoner, buyer, loyal repeat buyer), a push affinity and a hidden
  satisfaction. ``users.csv`` shows only what an app knows: signup time, timezone, locale,
  city, country, opt-ins (a snapshot at the end: an unsubscribe turns the flag off), quiet
  hours and a first name.
* **Lifecycle.** About 60% signed up before the window, the rest during it (so the newest users
  have only a few events). Every user has a churn time drawn from a Weibull with a rising
  hazard whose scale depends on the traits (heavy, loyal, push-engaged and satisfied users
  last longer; a share of fresh signups drop out within days). In the 1-4 weeks before
  churning, activity ramps down, so recency, trend and push engagement carry real but noisy
  signal. After churning a user is silent; half of them uninstalled the app, so even pushes
  stop being delivered; the rest may still, rarely, answer a push. A third of all users also
  take one 1-4 week break and come back (silence that is not churn; they keep glancing at
  pushes, so push engagement helps tell the two apart).
* **Sessions.** Daily sessions are negative-binomial around the user's rate (activity x
  lifecycle x onboarding burst x slow drift x weekend lift x one site-wide sale day). A session
  is an ``app_open``, sometimes a ``search`` (payload ``{"query": ...}`` in the user's
  language), a few ``view`` events mostly in the session's category (favourites 70% of the
  time) picked by popularity among the items sold in the user's city, ``add_to_cart`` by the
  user's segment and price sensitivity (never when out of stock), ``purchase`` of some carts
  (``value = price * quantity``), ``remove_from_cart`` of some of the rest, sometimes a
  ``geo_enter`` (lat/lon near the city, now and then while travelling). Purchases of
  consumables schedule a repurchase session one cycle later if the user is still around;
  some purchases get a ``feedback`` (payload ``{"rating": 1-5}``, higher for satisfied users)
  a few days later.
* **Messaging.** A few push campaigns a week (variants A/B, B slightly better copy), each
  promoting an item, go to opted-in, installed, not unsubscribed users seen in the last 45
  days. Half of the sends use the campaign's hour, half an exploring random hour, both in the
  user's local time and deferred out of quiet hours. The chance to open rises with how close
  the send hour is to the user's peak hours, with push affinity, current engagement and taste
  for the promoted category; so a send-time model has something to learn. Opens lead to
  clicks and a session on the promoted item; ignored pushes are sometimes dismissed, and
  repeated dismissals of a fading user end in ``unsubscribe``. Weekly SMS (only
  ``sms_clicked`` is observable) and twice-weekly email (``email_opened`` at the user's next
  active moment, ``email_clicked``, rare email ``unsubscribe``) work the same way.

All timestamps are written in UTC (``Z``); ``users.csv`` carries each user's timezone. Everything
comes from one ``numpy`` generator seeded by ``seed``, so a seed gives byte-identical files.

The package, in reading order: :mod:`~recsvc.data.demo.config` (what a run is asked for),
:mod:`~recsvc.data.demo.tables` (the fixed words and cities), :mod:`~recsvc.data.demo.catalogue`
(the shop), :mod:`~recsvc.data.demo.people` (the users' traits), :mod:`~recsvc.data.demo.world`
(both, plus the clocks), :mod:`~recsvc.data.demo.sessions`, :mod:`~recsvc.data.demo.messaging`,
:mod:`~recsvc.data.demo.events` (the event table and its writer) and
:mod:`~recsvc.data.demo.simulate` (the run from start to end).
"""

from recsvc.data.demo.config import DEFAULT_END, DemoConfig, DemoFrames, DemoPaths
from recsvc.data.demo.simulate import generate_demo, generate_demo_frames, write_demo
from recsvc.data.demo.tables import DEMO_CITIES, DemoCity

__all__ = [
    "DEFAULT_END",
    "DEMO_CITIES",
    "DemoCity",
    "DemoConfig",
    "DemoFrames",
    "DemoPaths",
    "generate_demo",
    "generate_demo_frames",
    "write_demo",
]
