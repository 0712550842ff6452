"""The program page says in words what advocates and friends get."""

from rewards.models import RewardRule


def test_it_describes_the_offer_window_and_hold(alice_client, program):
    RewardRule.objects.create(
        program=program,
        name="Points",
        trigger=RewardRule.Trigger.EVERY_PURCHASE,
        recipient=RewardRule.Recipient.ADVOCATE,
        kind=RewardRule.Kind.POINTS,
        points=50,
    )
    RewardRule.objects.create(
        program=program,
        name="Old",
        is_active=False,
        trigger=RewardRule.Trigger.SIGNUP,
        recipient=RewardRule.Recipient.ADVOCATE,
        kind=RewardRule.Kind.POINTS,
        points=999,
    )
    response = alice_client.get(f"/p/{program.slug}/about/")
    assert response.status_code == 200
    text = response.content.decode()
    assert program.name in text
    assert "You get €10.00 when a friend makes their first purchase." in text
    assert "Friends get 10% off when they sign up with your link." in text
    assert "You get 50 points for every purchase a friend makes." in text
    assert "999" not in text
    assert "within 30 days of clicking" in text
    assert "pending for 14 days" in text
