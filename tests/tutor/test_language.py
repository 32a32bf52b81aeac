"""The student's language: a profile setting, the TA's reply language, machine translation of a
step on request (labelled, the original one click away)."""

from tests.stand_in_model import stand_in_model
from tutor import prompting
from tutor.ta import detect_language

STEP = "/courses/sample-ramp/steps/counting-characters/"


def test_the_profile_sets_the_preferred_language(client, sample_student):
    client.force_login(sample_student)
    assert "The language I write in" in client.get("/accounts/profile/").content.decode()
    response = client.post(
        "/accounts/profile/", {"first_name": "Léa", "last_name": "", "preferred_language": "fr"}
    )
    assert response.status_code == 302
    sample_student.refresh_from_db()
    assert sample_student.preferred_language == "fr"
    bad = client.post("/accounts/profile/", {"first_name": "x", "preferred_language": "klingon"})
    assert bad.status_code == 422
    assert "Select a valid choice" in bad.content.decode()


def test_the_ta_replies_in_the_profile_language_or_the_language_written_in():
    assert detect_language("anything at all", "pt-BR") == "pt"
    assert detect_language("Pourquoi est-ce que je compte les caractères avec une boucle ?") == "fr"
    assert detect_language("Warum ist das nicht die Lösung und wie geht das?") == "de"
    assert detect_language("why is this") == "en"
    context = prompting.TAContext(course_title="LLM101n", language="fr")
    assert "Reply in French." in prompting.system_prompt(context)


def test_a_step_is_machine_translated_on_request_and_labelled(client, sample_student, settings):
    sample_student.preferred_language = "fr"
    sample_student.save()
    client.force_login(sample_student)
    page = client.get(STEP).content.decode()
    assert 'href="?lang=fr"' in page and "machine-translated into French" in page
    with stand_in_model(["# Compter les caractères\n\nLe modèle le plus simple…"]) as url:
        settings.EUREKA_MODEL_BASE_URL = url
        translated = client.get(f"{STEP}?lang=fr").content.decode()
    assert "Compter les caractères" in translated
    assert "Machine-translated into French." in translated
    assert 'href="?">Show the original' in translated


def test_without_a_model_the_original_is_shown_with_a_note(client, sample_student):
    client.force_login(sample_student)
    page = client.get(f"{STEP}?lang=de").content.decode()
    assert "Translation needs the course model" in page
    assert "The simplest model of text" in page
