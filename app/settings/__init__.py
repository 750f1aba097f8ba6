"""Configuration: one config file (JSON or YAML) plus environment variables, validated once into
frozen, plain Settings. declarations: each setting, once; shapes: the file's nested shapes; kinds:
the value kinds both validate with; rules: the rules between settings and the schema; loading: the
file and the environment read (the only reader of os.environ); reference: docs/configuration.md."""
from .declarations import (CHECK_SERVERS, CONFIG_FILE_ENV, DECLARATIONS, ENV_NAMES, FILE_PATH_KEYS,
                           GRACEFUL_STOP_SECONDS, SECRET_KEYS, SECTIONS, Settings)
from .loading import (ConfigError, child_environment, configured_file, export, from_environment, load_setting,
                      load_settings, named_variable, read_config_file)
from .reference import reference_markdown
from .rules import SettingsSchema

__all__ = ["CHECK_SERVERS", "CONFIG_FILE_ENV", "DECLARATIONS", "ENV_NAMES", "FILE_PATH_KEYS", "GRACEFUL_STOP_SECONDS",
           "SECRET_KEYS",
           "SECTIONS", "Settings", "ConfigError", "child_environment", "configured_file", "export",
           "from_environment", "load_setting", "load_settings", "named_variable", "read_config_file",
           "reference_markdown", "SettingsSchema"]
