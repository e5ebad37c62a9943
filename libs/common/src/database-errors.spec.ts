import { describe, expect, it } from 'vitest';
import { classifyDatabaseError, sqlStateOf } from './database-errors.js';

const pgError = (code: string): Error => Object.assign(new Error(`pg ${code}`), { code });

describe('classifyDatabaseError', () => {
  it('reads socket errors and connection/operator SQLSTATE classes as unavailable', () => {
    expect(classifyDatabaseError(pgError('ECONNREFUSED'))).toBe('unavailable');
    expect(classifyDatabaseError(pgError('57P01'))).toBe('unavailable'); // admin shutdown
    expect(classifyDatabaseError(pgError('57P03'))).toBe('unavailable'); // cannot connect now
    expect(classifyDatabaseError(pgError('08006'))).toBe('unavailable');
    expect(classifyDatabaseError(pgError('53300'))).toBe('unavailable'); // too many connections
    expect(classifyDatabaseError(new Error('Connection terminated unexpectedly'))).toBe('unavailable');
  });

  it('reads a schema or grants a deploy has not caught up with as unavailable (retried), not deterministic', () => {
    expect(classifyDatabaseError(pgError('42501'))).toBe('unavailable'); // insufficient privilege
    expect(classifyDatabaseError(pgError('42P01'))).toBe('unavailable'); // undefined table
    expect(classifyDatabaseError(pgError('42703'))).toBe('unavailable'); // undefined column
    expect(classifyDatabaseError(Object.assign(new Error('QueryFailedError'), { driverError: pgError('42501') }))).toBe('unavailable');
  });

  it('reads lost races as transient', () => {
    expect(classifyDatabaseError(pgError('40001'))).toBe('transient');
    expect(classifyDatabaseError(pgError('40P01'))).toBe('transient');
  });

  it('reads constraint, data and syntax errors as deterministic, also when wrapped (TypeORM driverError)', () => {
    expect(classifyDatabaseError(pgError('23505'))).toBe('deterministic');
    expect(classifyDatabaseError(pgError('22P05'))).toBe('deterministic');
    expect(classifyDatabaseError(pgError('42601'))).toBe('deterministic'); // syntax error
    expect(classifyDatabaseError(pgError('42883'))).toBe('deterministic'); // undefined function
    expect(classifyDatabaseError(pgError('42804'))).toBe('deterministic'); // datatype mismatch
    const wrapped = Object.assign(new Error('QueryFailedError'), { driverError: pgError('23514') });
    expect(classifyDatabaseError(wrapped)).toBe('deterministic');
  });

  it('does not guess about anything else', () => {
    expect(classifyDatabaseError(new Error('boom'))).toBeNull();
    expect(classifyDatabaseError(pgError('57014'))).toBeNull(); // statement cancelled on purpose
    expect(classifyDatabaseError('text')).toBeNull();
  });

  it('finds the SQLSTATE also inside a wrapper, and nothing in a socket error', () => {
    expect(sqlStateOf(Object.assign(new Error('QueryFailedError'), { driverError: pgError('23505') }))).toBe('23505');
    expect(sqlStateOf(pgError('ECONNREFUSED'))).toBeUndefined();
  });
});
