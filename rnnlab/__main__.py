"""``python -m rnnlab`` (and ``torchrun -m rnnlab``) run the same CLI as the ``rnnlab`` script."""

from rnnlab.entry import main

if __name__ == "__main__":
    main()
