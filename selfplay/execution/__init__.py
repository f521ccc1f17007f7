"""Where a round's model work runs when it is not this process: `ray_runner` (`RayExecutor`, N
actors each holding one policy; the one module of the lab that imports Ray) and `shipping`
(directories as bytes through Ray's object store, model paths every node can read).
"""
