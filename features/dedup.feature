Feature: De-duplication
  An app may send the same event twice (a retry, a double click).
  The flywheel counts it once.

  Scenario: The same event sent twice is processed once
    Given Alice generated a cover letter for "Airbus"
    When the same cover letter event is sent again
    And the flywheel processes the queue
    Then the second copy was refused as a duplicate
    And Alice's journey holds 1 event

  Scenario: A copy written by an old client without a hash is recognised
    Given Alice uploaded her CV
    And an old client recorded the same CV upload without a hash
    When the flywheel processes the queue
    Then 1 event is processed and 1 is recognised as a duplicate
    And the log says the event was already processed
    And Alice's journey holds 1 event

  Scenario: Two real, identical events are told apart by their idempotency keys
    Given Alice generated a cover letter for "Airbus" as letter "L1"
    And Alice generated a cover letter for "Airbus" as letter "L2"
    When the flywheel processes the queue
    Then Alice's journey holds 2 events
