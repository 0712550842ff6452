import factory

from advocacy.services import advocate_enroll


def enroll(program, email, **kwargs):
    return advocate_enroll(program=program, email=email, **kwargs)[0]


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = "auth.User"
        django_get_or_create = ["username"]

    username = factory.Sequence(lambda n: f"user{n}")
    email = factory.LazyAttribute(lambda u: f"{u.username}@example.com")
    password = factory.django.Password("correct horse battery staple")
