"""The advocate's dashboard: link, code, QR, share buttons, numbers, chart and referrals."""

import re
from datetime import timedelta
from urllib.parse import parse_qs, unquote, urlsplit
from xml.etree import ElementTree  # our own response, not untrusted input

from django.utils import timezone

from referrals.models import Referral
from rewards.models import RewardRule

from .helpers import add_click, add_entry, add_purchase, add_referral

SVG = "{http://www.w3.org/2000/svg}"


def dashboard(browser, program) -> str:
    response = browser.get(f"/p/{program.slug}/")
    assert response.status_code == 200
    return response.content.decode()


def test_it_shows_the_link_and_the_code_with_copy_buttons(alice_client, program, advocate, link):
    text = dashboard(alice_client, program)
    assert f'value="http://testserver/r/{link.code}"' in text
    assert f'value="{advocate.coupon_code}"' in text
    assert 'data-copy="referral-link"' in text and 'data-copy="referral-code"' in text
    assert "navigator.clipboard" in text
    assert "<script src" not in text  # no CDN, no library


def test_it_lists_referrals_with_masked_emails_status_and_date(alice_client, program, advocate):
    add_referral(advocate, "nina@example.com")
    add_referral(advocate, "omar@example.org", status=Referral.Status.CONVERTED)
    text = dashboard(alice_client, program)
    assert "n***@e***.com" in text and "o***@e***.org" in text
    assert "nina@" not in text and "omar@" not in text
    assert "Signed up" in text and "Purchased" in text


def test_share_links_carry_the_channel(alice_client, program, link):
    text = dashboard(alice_client, program)
    url = f"http://testserver/r/{link.code}"
    hrefs = dict(re.findall(r'class="button share-(\w+)" href="([^"]+)"', text))
    assert set(hrefs) == {"email", "sms", "whatsapp", "x", "facebook", "linkedin"}
    for channel, href in hrefs.items():
        assert f"{url}?p=portal&ch={channel}" in unquote(href.replace("&amp;", "&")), channel
    assert hrefs["email"].startswith("mailto:?")
    assert hrefs["sms"].startswith("sms:?&amp;body=")
    assert hrefs["whatsapp"].startswith("https://wa.me/?text=")
    x = parse_qs(urlsplit(hrefs["x"].replace("&amp;", "&")).query)
    assert x["url"] == [f"{url}?p=portal&ch=x"]
    assert hrefs["facebook"].startswith("https://www.facebook.com/sharer/sharer.php?u=")
    assert hrefs["linkedin"].startswith("https://www.linkedin.com/sharing/share-offsite/?url=")
    # The native share button appears only where navigator.share exists.
    assert re.search(r"<button[^>]*hidden[^>]*data-native-share", text)
    assert f'data-url="{url}?ch=native"' in text


def test_the_share_message_mentions_the_friends_discount(alice_client, program):
    text = unquote(dashboard(alice_client, program))
    assert "get 10% off your first order" in text
    RewardRule.objects.filter(program=program, trigger=RewardRule.Trigger.SIGNUP).update(
        is_active=False
    )
    assert "% off" not in unquote(dashboard(alice_client, program))


def test_a_click_on_a_shared_link_records_its_channel(alice_client, client, program, link):
    client.get(f"/r/{link.code}?ch=whatsapp")
    assert link.clicks.get().channel == "whatsapp"


def test_the_qr_code_is_inline_and_downloadable_as_svg(alice_client, program):
    text = dashboard(alice_client, program)
    assert re.search(r'<div class="qr-image"[^>]*><svg[^>]*><path d="M', text)
    response = alice_client.get(f"/p/{program.slug}/qr.svg")
    assert response["Content-Type"].startswith("image/svg+xml")
    assert response["Content-Disposition"] == (
        f'attachment; filename="referral-{program.slug}.svg"'
    )
    root = ElementTree.fromstring(response.content)  # noqa: S314 (our own SVG)
    assert root.tag == f"{SVG}svg"
    [path] = root.iter(f"{SVG}path")
    assert path.get("d").startswith("M")


def test_it_counts_clicks_friends_purchases_and_money(alice_client, program, advocate):
    for _ in range(3):
        add_click(advocate, channel="email")
    add_referral(advocate, "nina@example.com")
    add_purchase(advocate, "order-1")
    add_entry(advocate, 1000, bucket="available")
    add_entry(advocate, 250, bucket="paid")
    add_entry(advocate, 700, bucket="pending")
    text = dashboard(alice_client, program)
    numbers = dict(re.findall(r"<dt>([^<]+)</dt><dd>([^<]+)</dd>", text))
    assert numbers["Clicks"] == "3"
    assert numbers["Friends signed up"] == "1"
    assert numbers["Purchases"] == "1"
    # Earned counts everything, pending included; what is ready is said apart.
    assert numbers["Earned in total (EUR)"] == "€19.50"
    assert "€7.00 of it still on hold" in text
    assert numbers["Ready to pay out (EUR)"] == "€10.00"


def test_friends_signed_up_leaves_out_friends_who_only_bought(alice_client, program, advocate):
    add_referral(advocate, "nina@example.com")
    later = add_referral(advocate, "ola@example.com", status=Referral.Status.CONVERTED)
    later.converted_at = later.created_at + timedelta(days=2)  # signed up, bought later
    later.save(update_fields=["converted_at"])
    bought = add_referral(advocate, "per@example.com", status=Referral.Status.CONVERTED)
    bought.converted_at = bought.created_at  # created by the purchase itself
    bought.save(update_fields=["converted_at"])
    add_referral(advocate, "alice@example.com", status=Referral.Status.REJECTED)
    text = dashboard(alice_client, program)
    numbers = dict(re.findall(r"<dt>([^<]+)</dt><dd>([^<]+)</dd>", text))
    assert numbers["Friends signed up"] == "2"


def test_a_self_referral_says_why_it_is_not_eligible(alice_client, program, advocate):
    referral = add_referral(advocate, "me@example.com", status=Referral.Status.REJECTED)
    referral.rejection_reason = "self-referral: the friend's email is the advocate's own"
    referral.save(update_fields=["rejection_reason"])
    text = dashboard(alice_client, program)
    assert "Not eligible" in text
    assert "you can&#x27;t refer yourself" in text


def test_the_chart_has_axes_with_counts_and_dates(alice_client, program, advocate):
    for _ in range(4):
        add_click(advocate)
    text = dashboard(alice_client, program)
    assert "tallest bar" not in text
    y_axis = re.search(r'<div class="y-axis"[^>]*>(.*?)</div>', text).group(1)
    assert re.findall(r"<span>(\d+)</span>", y_axis) == ["4", "2", "0"]
    x_axis = re.search(r'<div class="x-axis"[^>]*>(.*?)</div>', text).group(1)
    assert len(re.findall(r"<span>", x_axis)) == 4
    assert timezone.localdate().strftime("%-d %b") in x_axis
    assert "4 clicks" in text


def test_the_referral_list_pages_past_fifty_rows(alice_client, program, advocate):
    for i in range(120):
        add_referral(advocate, f"friend{i}@example.com")
    first = dashboard(alice_client, program)
    assert first.count('class="status status-signed_up"') == 50
    assert "Page 1 of 3" in first
    last = alice_client.get(f"/p/{program.slug}/?page=3").content.decode()
    assert last.count('class="status status-signed_up"') == 20


def test_the_chart_has_a_bar_per_active_day(alice_client, program, advocate):
    add_click(advocate)
    add_click(advocate)
    old = add_click(advocate)
    old.created_at = timezone.now() - timedelta(days=40)  # outside the chart
    old.save(update_fields=["created_at"])
    add_purchase(advocate, "order-1")
    text = dashboard(alice_client, program)
    [svg] = re.findall(r'<svg class="bars".*?</svg>', text, re.S)
    assert len(re.findall(r'class="bar-clicks"', svg)) == 1
    assert len(re.findall(r'class="bar-purchases"', svg)) == 1
    assert len(re.findall(r'class="bar-hit"', svg)) == 30
    assert "2 clicks, 1 purchases" in svg


def test_the_dashboard_query_count_does_not_grow_with_referrals(
    alice_client, program, advocate, django_assert_max_num_queries
):
    add_referral(advocate, "first@example.com")
    # 19: one asks measurement for the advocate's offer experiment (rewards.variants), one
    # for their share-copy experiment (referrals.sharing).
    with django_assert_max_num_queries(19) as few:
        dashboard(alice_client, program)
    baseline = len(few.captured_queries)  # read now: each request resets the query log
    for n in range(25):
        add_referral(advocate, f"friend{n}@example.com")
        add_click(advocate)
        add_purchase(advocate, f"order-{n}")
        add_entry(advocate, 100)
    with django_assert_max_num_queries(baseline):
        dashboard(alice_client, program)


def test_the_qr_code_downloads_as_png_too(alice_client, program):
    import png  # pypng: reads the image back to check it is a real PNG

    response = alice_client.get(f"/p/{program.slug}/qr.png")
    assert response.status_code == 200
    assert response["Content-Type"] == "image/png"
    assert "attachment" in response["Content-Disposition"]
    width, height, _, _ = png.Reader(bytes=response.content).read()
    assert width == height > 100


def test_amounts_are_formatted_for_the_language(alice_client, program):
    alice_client.post("/i18n/setlang/", {"language": "sv", "next": "/"})
    page = alice_client.get(f"/p/{program.slug}/rewards/").content.decode()
    assert "0,00\N{NO-BREAK SPACE}€" in page
    alice_client.post("/i18n/setlang/", {"language": "en", "next": "/"})
    assert "€0.00" in alice_client.get(f"/p/{program.slug}/rewards/").content.decode()


def test_the_program_writes_its_own_share_messages_per_channel_and_language(alice_client, program):
    from urllib.parse import unquote

    from advocacy.models import ShareMessage

    ShareMessage.objects.create(program=program, text="Our wool is the warmest:")
    ShareMessage.objects.create(
        program=program, channel="whatsapp", language="sv", text="Ullen värmer bäst:"
    )
    page = unquote(alice_client.get(f"/p/{program.slug}/").content.decode())
    assert "Our wool is the warmest:" in page
    assert "Ullen värmer bäst:" not in page
    alice_client.post("/i18n/setlang/", {"language": "sv", "next": "/"})
    page = unquote(alice_client.get(f"/p/{program.slug}/").content.decode())
    assert "Ullen värmer bäst:" in page  # WhatsApp, in Swedish
    assert "Our wool is the warmest:" in page  # the other channels
