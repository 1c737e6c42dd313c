from lorascope.cli.main import main

raise SystemExit(main())
