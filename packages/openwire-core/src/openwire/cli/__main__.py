"""``python -m openwire.cli`` runs the same command as the ``openwire`` script."""

from openwire.cli.main import main

raise SystemExit(main())
