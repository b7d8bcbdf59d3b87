from tlssim.cli import main

raise SystemExit(main())
