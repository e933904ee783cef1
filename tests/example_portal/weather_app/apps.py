from django.apps import AppConfig


class WeatherAppConfig(AppConfig):
    """An example portal app that runs its work through tethys_sdk.compute."""

    name = "weather_app"
    default_auto_field = "django.db.models.BigAutoField"
