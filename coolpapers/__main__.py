from coolpapers.cli import main

raise SystemExit(main())
